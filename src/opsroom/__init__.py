"""opsroom: self-hosted ChatOps."""

__version__ = "0.1.0"
