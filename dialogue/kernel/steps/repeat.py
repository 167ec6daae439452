"""`repeat: last_prompt` (the repeat flow): say the last question again, with its choices."""

from __future__ import annotations

from typing import ClassVar, Literal

from dialogue.kernel.context import TurnContext
from dialogue.kernel.effects import Say
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.state import IntentFrame


class RepeatStep(StepModel):
    KEY: ClassVar[str] = "repeat"

    repeat: Literal["last_prompt"]
    fallback: str  # said when nothing was asked yet

    def texts(self) -> list[str]:
        return [self.fallback]


async def run(step: RepeatStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    state = turn.state
    turn.used = True
    text = state.last_prompt or turn.text(step.fallback)
    turn.emit(Say(text=text, choices=list(state.choices), expects=state.expects))
    return Control.NEXT
