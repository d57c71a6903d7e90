"""Sentra: a self-hosted node that observes and acts."""

__version__ = "0.1.0"
