"""`link: FLOW`: this request is done; the named flow carries on in its place, with the slots and
records named in `carry` (the customer need not say again what they already said)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.state import IntentFrame


class LinkStep(StepModel):
    KEY: ClassVar[str] = "link"

    link: str
    carry: list[str] = Field(default_factory=list, description="slots and saved records the linked flow starts with")


async def run(step: LinkStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    frame.status = "done"
    follower = IntentFrame(intent=step.link, started_turn=turn.state.turn, request_text=frame.request_text)
    for name in step.carry:
        if name in frame.slots:
            follower.slots[name] = frame.slots[name].model_copy(deep=True)
        if name in frame.records:
            follower.records[name] = frame.records[name]
            follower.versions[name] = frame.versions.get(name)
    turn.state.intents.append(follower)
    turn.event("decision", "link_flow", {"from": frame.intent, "to": step.link, "carried": sorted(follower.slots)})
    return Control.SETTLED
