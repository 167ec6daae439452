"""Every governed tool, gathered into one registry."""

from actions.governance import ToolRegistry
from actions.tools import retail


def default_registry() -> ToolRegistry:
    registry = ToolRegistry()
    registry.add(*retail.tools())
    return registry
