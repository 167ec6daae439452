"""`ticket: TOOL` (the hand-off flow): a person takes over. The structured summary is built, a
ticket opened through the named governed tool, and the conversation marked as with a person; what
the person already knows is left in the flow's params (`known`) for the words that follow."""

from __future__ import annotations

from typing import ClassVar

from actions.models import Actor
from dialogue.handoff import build_summary
from dialogue.kernel.context import TurnContext
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import Control, StepModel
from dialogue.state import IntentFrame

_URGENT = ("frustration", "verification_failed", "system_failure")


class TicketStep(StepModel):
    KEY: ClassVar[str] = "ticket"

    ticket: str

    def tools(self) -> list[str]:
        return [self.ticket]


async def run(step: TicketStep, frame: IntentFrame, turn: TurnContext, ports: Ports) -> Control:
    state = turn.state
    reason = str(frame.template.get("reason") or "customer_request")
    turn.used = True
    state.escalation_reason = reason
    state.pending_confirmation = None
    for request in state.intents:
        if request.status in ("active", "paused"):
            request.status = "handed_off"
    history = await ports.history(state.session_id)
    summary = build_summary(state, [*history, *turn.transcript], reason, ports.flows)
    result = await turn.tool(
        step.ticket,
        {
            "session_id": state.session_id,
            "reason": reason,
            "summary": summary.model_dump(mode="json"),
            "user_id": state.identity.user_id,
            "channel": state.channel,
            "priority": "high" if reason in _URGENT else "normal",
        },
        actor=Actor.system("dialogue"),
    )
    if result.ok:
        summary.ticket_id = (result.output or {}).get("ticket_id")
        state.handoff_ticket_id = summary.ticket_id
    turn.event("decision", "handoff", {"reason": reason, "ticket": summary.ticket_id, "ticket_status": result.status})
    state.mode = "agent"
    state.outcome = "handed_off"
    state.expects = None
    state.choices = []
    turn.handoff = summary
    turn.asked = True  # the conversation now waits for the person
    frame.template["known"] = ports.known_facts(turn, summary)
    return Control.NEXT
