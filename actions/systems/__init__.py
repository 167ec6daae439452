"""The systems of record. Importing this package registers every system's tables."""

from actions.systems import retail  # noqa: F401
