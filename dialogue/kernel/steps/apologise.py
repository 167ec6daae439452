"""`apologise: KEY` (the not-understood flow, when the question was already asked again this turn):
say first that the answer was not usable, in front of the question."""

from __future__ import annotations

from typing import ClassVar

from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.state import IntentFrame


class ApologiseStep(StepModel):
    KEY: ClassVar[str] = "apologise"

    apologise: str

    def texts(self) -> list[str]:
        return [self.apologise]


async def run(step: ApologiseStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    asked = next((m for m in reversed(turn.messages) if m.role == "bot"), None)
    if asked is not None:
        asked.text = f"{turn.text(step.apologise)} {asked.text}"
        turn.state.last_prompt = asked.text
    return Control.NEXT
