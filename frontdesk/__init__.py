"""Composition root: settings, the FastAPI app that mounts chat and voice, and the CLI."""
