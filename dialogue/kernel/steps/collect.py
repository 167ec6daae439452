"""`collect: SLOT`: ask for a slot until it has a valid value (`collector` and `params` say how, `ask`
is the response key). Values the words already gave are taken first; a slot with one possible
value is filled without asking (the read-back confirms it)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from dialogue.kernel.collectors import Accepted
from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.state import IntentFrame


class CollectStep(StepModel):
    KEY: ClassVar[str] = "collect"

    collect: str
    collector: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    ask: str | None = None

    def texts(self) -> list[str]:
        return [self.ask] if self.ask else []


async def run(step: CollectStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    collector = ports.collector_for(step)
    if collector.done(frame, step):
        return Control.NEXT
    if turn.asked:
        return Control.WAIT
    spec = ports.catalog.get(step.collect)
    if turn.u is not None and turn.evidence.choice is None and step.id not in turn.tried and spec and spec.early:
        # Reached in the same turn: the customer's words may already answer it.
        turn.tried.add(step.id)
        if await collector.accept(turn, frame, step, quiet=True) is Accepted.filled:
            return Control.AGAIN
    if await reread_opening(step, frame, turn, ports) or await collector.autofill(turn, frame, step):
        return Control.AGAIN
    if not await collector.prompt(turn, frame, step):
        frame.status = "failed"
        return Control.SETTLED
    return Control.WAIT


async def reread_opening(step: CollectStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> bool:
    """Read the opening request again now that its records are known ("exchange my keyboard")."""
    spec = ports.catalog.get(step.collect)
    request = frame.request_text
    if not request or step.id in frame.reread or spec is None or not spec.reread or turn.reread is None:
        return False
    frame.reread.append(step.id)
    saved_evidence, saved_expects = turn.evidence, turn.state.expects
    turn.state.expects = step.collect
    try:
        turn.evidence = await turn.reread(request, step.collect)
        result = await ports.collector_for(step).accept(turn, frame, step, quiet=True)
    finally:
        turn.evidence, turn.state.expects = saved_evidence, saved_expects
    if result is not Accepted.nothing:
        turn.event("decision", "from_request", {"slot": step.collect, "result": result.value})
    return result is Accepted.filled
