"""Flow steps, one kind per module: collect, read, require, confirm, say, set, handoff, link.

Each module defines the step's model (parsed from a flow file; `KEY` is the key that names the
kind) and `run(step, frame, turn, ports) -> Control`, which emits effects on the turn and says
how the flow goes on. `call` of a sub-flow is not a step at run time: the flow loader puts the
called flow's steps in its place (`dialogue.kernel.flow`).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from dialogue.kernel.values import Condition


class Control(Enum):
    NEXT = "next"  # go on with the next step
    AGAIN = "again"  # the step moved the flow itself (a jump, a cleared slot): look at where it stands now
    WAIT = "wait"  # the customer must answer (or a person has taken over): the turn stops here
    SETTLED = "settled"  # this request is finished one way or another: go on with the next request


class StepModel(BaseModel):
    """What every step has: an id, an optional condition, and where it was written."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    KEY: ClassVar[str] = ""

    id: str
    when: Condition | None = None
    if_param: str | None = Field(default=None, description="in a sub-flow: kept only when the caller gives this")
    line: int = Field(default=0, exclude=True)
    source: str = Field(default="", exclude=True)

    def where(self) -> str:
        return f"{self.source}:{self.line}" if self.source else f"step {self.id!r}"

    def texts(self) -> list[str]:
        """Response keys the step names (checked at start-up)."""
        return []

    def tools(self) -> list[str]:
        return []


def params_of(step: Any) -> dict[str, Any]:
    return getattr(step, "params", {}) or {}
