"""`confirm: TOOL`: read the action back (`readback`), wait for an explicit yes; the write runs only then
(`dialogue.kernel.writes`) and is reported only once verified (`success`).

The tool registry decides the risk (a yes, a person's approval, or never), on the exact arguments."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from actions.models import RiskClass
from dialogue.kernel.context import TurnContext
from dialogue.kernel.effects import PauseForYes
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.kernel.values import resolve_args
from dialogue.state import Choice, IntentFrame, PendingConfirmation


class ConfirmStep(StepModel):
    KEY: ClassVar[str] = "confirm"

    confirm: str
    args: dict[str, Any] = Field(default_factory=dict)
    readback: str | None = None
    success: str | None = None

    def texts(self) -> list[str]:
        return [self.readback or f"readback_{self.confirm}", self.success or f"done_{self.confirm}"]

    def tools(self) -> list[str]:
        return [self.confirm]


async def run(step: ConfirmStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    if turn.asked:
        return Control.WAIT
    state = turn.state
    args = resolve_args(step.args, frame, state)
    try:
        risk = ports.risk_of(step.confirm, args)
    except Exception as exc:
        turn.event("decision", "invalid_action_args", {"tool": step.confirm, "error": str(exc)[:300]})
        turn.say("lookup_failed")
        frame.status = "failed"
        return Control.SETTLED
    if risk is RiskClass.forbidden:
        turn.say("forbidden_action")
        await ports.repair.offer_help(turn, "forbidden")
        frame.status = "failed"
        return Control.WAIT
    await ports.presenters.prepare(turn, frame, step, args)
    readback = ports.presenters.readback(turn, frame, step, args)
    key = f"{state.session_id}:{len(state.intents) - 1}:{step.id}:{state.turn}"
    pending = PendingConfirmation(
        tool=step.confirm, arguments=args, readback=readback, idempotency_key=key, risk=risk, asked_turn=state.turn
    )
    turn.event("decision", "confirmation_requested", {"tool": step.confirm, "risk": risk.value})
    turn.emit(PauseForYes(pending=pending, text=f"{readback} {turn.text('ask_confirm')}", choices=yes_no(turn)))
    return Control.WAIT


def yes_no(turn: TurnContext) -> list[Choice]:
    return [Choice(label=turn.text("label_yes"), value="yes"), Choice(label=turn.text("label_no"), value="no")]
