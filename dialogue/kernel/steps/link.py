"""`link: FLOW`: this request is done; the named flow carries on in its place."""

from __future__ import annotations

from typing import ClassVar

from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.state import IntentFrame


class LinkStep(StepModel):
    KEY: ClassVar[str] = "link"

    link: str


async def run(step: LinkStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    frame.status = "done"
    turn.state.intents.append(IntentFrame(intent=step.link, started_turn=turn.state.turn))
    turn.event("decision", "link_flow", {"from": frame.intent, "to": step.link})
    return Control.SETTLED
