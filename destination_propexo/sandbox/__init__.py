"""A local Propexo API server for the demo, the integration tests and the benchmark."""

from destination_propexo.sandbox.faults import CreateFault, FaultPlan
from destination_propexo.sandbox.server import Sandbox

__all__ = ["CreateFault", "FaultPlan", "Sandbox"]
