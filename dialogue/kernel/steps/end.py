"""`end: conversation` (the goodbye flow): the conversation is over; it counts as resolved when a
request was carried out, abandoned otherwise."""

from __future__ import annotations

from typing import ClassVar, Literal

from dialogue.kernel.context import TurnContext
from dialogue.kernel.effects import End
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.state import IntentFrame


class EndStep(StepModel):
    KEY: ClassVar[str] = "end"

    end: Literal["conversation"]


async def run(step: EndStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    state = turn.state
    turn.used = True
    turn.emit(End())
    state.mode = "closed"
    state.expects = None
    if state.outcome == "in_progress":
        state.outcome = "resolved" if any(f.status == "done" for f in state.intents) else "abandoned"
    return Control.NEXT
