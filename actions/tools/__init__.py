"""Every governed tool, gathered into one registry."""

from actions.governance import ToolRegistry
from actions.tools import billing, crm, forbidden, identity, packages, retail, scheduler


def default_registry() -> ToolRegistry:
    registry = ToolRegistry()
    for area in (retail, packages, billing, identity, crm, scheduler, forbidden):
        registry.add(*area.tools())
    return registry
