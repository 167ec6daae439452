"""`set: {name: value}`: give slots values the flow works out itself rather than asks for.

A value is a `$` reference (`$identity.user_id`) or a value function the domain pack offers
(`{value: callback_topic}`); a slot already given keeps its value."""

from __future__ import annotations

from typing import Any, ClassVar

from dialogue.kernel.collectors import set_slot
from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.kernel.values import lookup
from dialogue.state import IntentFrame


class SetStep(StepModel):
    KEY: ClassVar[str] = "set"

    set: dict[str, Any]

    def value_functions(self) -> list[str]:
        return [str(v["value"]) for v in self.set.values() if isinstance(v, dict) and "value" in v]


async def run(step: SetStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    for name, raw in step.set.items():
        if frame.value(name) is not None:
            continue
        if isinstance(raw, dict) and "value" in raw:
            value = ports.values[str(raw["value"])](turn, frame)
        elif isinstance(raw, str) and raw.startswith("$"):
            value = lookup(raw, frame, turn.state)
        else:
            value = raw
        if value is not None:
            set_slot(turn, frame, name, value, source="default")
    return Control.NEXT
