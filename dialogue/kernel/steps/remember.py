"""`remember: {field: value}` (repair flows): note why something was offered, on the conversation."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.kernel.values import lookup
from dialogue.state import IntentFrame

Remembered = Literal["offer_reason", "escalation_reason"]


class RememberStep(StepModel):
    KEY: ClassVar[str] = "remember"

    remember: dict[Remembered, Any]


async def run(step: RememberStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    for name, raw in step.remember.items():
        value = lookup(raw, frame, turn.state, frame.template) if isinstance(raw, str) and raw.startswith("$") else raw
        setattr(turn.state, name, value)
    return Control.NEXT
