"""`cancel: active_request` (the never-mind flow): stop the request in progress, if there is one; the
flow's params say whether there was (`cancelled`)."""

from __future__ import annotations

from typing import ClassVar, Literal

from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.state import IntentFrame


class CancelStep(StepModel):
    KEY: ClassVar[str] = "cancel"

    cancel: Literal["active_request"]


async def run(step: CancelStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    state = turn.state
    turn.used = True
    active = state.active
    state.pending_confirmation = None
    if active is not None:
        active.status = "cancelled"
        turn.event("decision", "cancel_intent", {"intent": active.intent})
    frame.template["cancelled"] = active is not None
    return Control.NEXT
