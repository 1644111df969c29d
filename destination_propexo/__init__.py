"""Airbyte destination that books lead appointments (tours) in the PMSs behind Propexo."""

__version__ = "0.1.0"
