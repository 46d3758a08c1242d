"""Interlink: an integration hub with eventing and bulk for every connector."""

__version__ = "0.1.0"
