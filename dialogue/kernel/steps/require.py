"""`require: CONDITION`: check the request's records; `otherwise` says what to tell the customer and where to go."""

from __future__ import annotations

from typing import ClassVar

from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.kernel.steps.otherwise import Otherwise, apply
from dialogue.kernel.values import Condition, lookup
from dialogue.state import IntentFrame


class RequireStep(StepModel):
    KEY: ClassVar[str] = "require"

    require: Condition
    otherwise: Otherwise | None = None

    def texts(self) -> list[str]:
        return [self.otherwise.say] if self.otherwise and self.otherwise.say else []


async def run(step: RequireStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    value = lookup(step.require.path, frame, turn.state)
    if step.require.holds(value):
        return Control.NEXT
    turn.event("decision", "requirement_failed", {"step": step.id, "value": value})
    return Control.WAIT if await apply(step.otherwise, frame, turn, ports) else Control.AGAIN
