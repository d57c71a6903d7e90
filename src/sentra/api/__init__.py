"""The HTTP API: one FastAPI app, one router per area."""

from sentra.api.app import create_app

__all__ = ["create_app"]
