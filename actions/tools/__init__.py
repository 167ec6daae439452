"""Every governed tool, gathered into one registry."""

from actions.governance import ToolRegistry
from actions.tools import billing, crm, forbidden, identity, packages, payments, retail, scheduler


def default_registry() -> ToolRegistry:
    registry = ToolRegistry()
    for area in (retail, packages, payments, billing, identity, crm, scheduler, forbidden):
        registry.add(*area.tools())
    return registry
