"""`refuse: $params.tool` (the refusal flow): a request Frontdesk may never carry out goes to the tool that
stands for it, and the tool registry refuses it on the record."""

from __future__ import annotations

from typing import ClassVar

from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.kernel.values import lookup
from dialogue.state import IntentFrame


class RefuseStep(StepModel):
    KEY: ClassVar[str] = "refuse"

    refuse: str


async def run(step: RefuseStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    turn.used = True
    tool = str(lookup(step.refuse, frame, turn.state, frame.template) if step.refuse.startswith("$") else step.refuse)
    result = await turn.tool(tool, {})
    turn.event("decision", "forbidden_request", {"tool": tool, "status": result.status})
    return Control.NEXT
