"""`pattern: NAME` (repair flows): run another repair flow, with params (`with`)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.kernel.values import lookup
from dialogue.state import IntentFrame


class PatternStep(StepModel):
    KEY: ClassVar[str] = "pattern"

    pattern: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


async def run(step: PatternStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    params = {
        k: lookup(v, frame, turn.state, frame.template) if isinstance(v, str) and v.startswith("$") else v
        for k, v in step.with_.items()
    }
    await ports.repair.run(turn, step.pattern, params)
    return Control.NEXT
