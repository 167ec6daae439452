"""What a `read` or `require` step does when its record is missing or its condition fails:
say something, clear slots, then jump back, end the request, or hand the conversation over."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dialogue.kernel.context import TurnContext
from dialogue.kernel.effects import Say
from dialogue.kernel.ports import Ports
from dialogue.state import IntentFrame


class Otherwise(BaseModel):
    model_config = ConfigDict(extra="forbid")

    say: str | None = None
    clear: list[str] = Field(default_factory=list)
    goto: str | None = None
    end: Literal["failed", "resolved", "cancelled"] | None = None
    handoff: str | None = None


_END_STATUS = {"failed": "failed", "resolved": "done", "cancelled": "cancelled"}


async def apply(other: Otherwise | None, frame: IntentFrame, turn: TurnContext, ports: Ports) -> bool:
    """Carry `other` out; True when a person now has the conversation (the turn stops)."""
    if other is None:
        frame.status = "failed"
        return False
    if other.say:
        turn.emit(Say(text=ports.presenters.say(turn, frame, other.say)))
    for name in other.clear:
        frame.slots.pop(name, None)
        frame.records.pop(name, None)
        frame.versions.pop(name, None)
    if other.handoff:
        await ports.repair.hand_off(turn, other.handoff)
        return True
    if other.end:
        frame.status = _END_STATUS[other.end]  # type: ignore[assignment]
        return False
    if other.goto:
        frame.step = other.goto
    return False
