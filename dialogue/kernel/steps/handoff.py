"""`handoff: REASON`: hand the conversation to a person (the `human_handoff` repair flow)."""

from __future__ import annotations

from typing import ClassVar

from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.state import IntentFrame


class HandoffStep(StepModel):
    KEY: ClassVar[str] = "handoff"

    handoff: str


async def run(step: HandoffStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    await ports.repair.hand_off(turn, step.handoff)
    return Control.WAIT
