"""Easy Flow: an open integration hub for online sellers."""

__version__ = "0.1.0"
