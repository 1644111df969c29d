"""Airbyte destination that books ResMan lead appointments through Propexo."""

__version__ = "0.1.0"
