"""The imfcodec command line (app.py: the group; one module per command group)."""

from .app import main

__all__ = ["main"]
