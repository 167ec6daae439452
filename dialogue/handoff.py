"""The structured hand-off summary a person receives, so the customer never repeats themselves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dialogue.api import HandoffSummary
from dialogue.state import ConversationState, IntentFrame
from dialogue.store import TranscriptEntry

NEXT_STEPS = {
    "customer_request": "Greet the customer by name and ask how you can help; the request below is unresolved.",
    "not_understood": "The bot could not understand the last turns: ask the customer to restate the request.",
    "frustration": "The customer is frustrated: acknowledge it first, then finish the open request.",
    "identity_failed": "Identity could not be verified: verify it by your own procedure before sharing any data.",
    "verification_failed": "A write was sent but not verified: check the record in the back office before telling "
    "the customer anything, then run reconcile.",
    "system_failure": "A multi-system action did not complete: check the failed steps and reconcile.",
    "system_unavailable": "A back-office system was down: retry the request once it is back or book a callback.",
    "forbidden": "The customer asked for something Frontdesk may not do: decide whether an exception applies.",
    "no_policy_answer": "A policy question had no answer in the knowledge base: answer it and consider adding it.",
    "complaint": "The customer is unhappy with the service: listen, apologise, and log the complaint.",
    "out_of_scope": "The customer asked for something no workflow does (an account, a newsletter, an invoice): help "
    "them by your own procedure.",
    "internal_error": "Frontdesk hit an internal error mid-conversation: take over and continue from the transcript.",
}


def build_summary(
    state: ConversationState, transcript: list[TranscriptEntry], reason: str, flows: Mapping[str, Any]
) -> HandoffSummary:
    """The summary of `state`; `flows` (name -> flow) give the policy references of its requests."""
    ident = state.identity
    intents = list(dict.fromkeys(f.intent for f in state.intents))  # each request once
    slots: dict = {}
    for frame in state.intents:
        if frame.declined:
            continue  # details of a change the customer refused are not what they want
        for name, slot in frame.slots.items():
            slots.setdefault(name, slot.value)
    requests = [_request(frame) for frame in state.intents]
    requests = [r for i, r in enumerate(requests) if r not in requests[:i]]
    actions = [
        {
            "tool": a.tool,
            "status": a.status,
            "verified": a.verified,
            "confirmation_id": a.confirmation_id,
            "arguments": a.arguments,
        }
        for a in state.actions
    ]
    failed = [
        {
            "tool": a.tool,
            "status": a.status,
            "error": a.error,
            "steps": [s for s in a.steps if s.get("status") != "done"],
        }
        for a in state.actions
        if a.status not in ("ok",)
    ]
    policies = sorted({p for f in state.intents if f.intent in flows for p in flows[f.intent].policy})
    open_requests = list(
        dict.fromkeys(
            f.intent for f in state.intents if f.status in ("active", "paused", "handed_off", "pending_approval")
        )
    )
    summary_text = _issue(state, intents, open_requests, reason)
    confidence = 1.0 if state.not_understood_streak == 0 else max(0.2, 1.0 - 0.4 * state.not_understood_streak)
    return HandoffSummary(
        session_id=state.session_id,
        ticket_id=state.handoff_ticket_id,
        channel=state.channel,
        reason=reason,
        customer={
            "user_id": ident.user_id,
            "first_name": ident.first_name,
            "verified_by": ident.method,
            "phone_hint": ident.phone_hint,
        },
        identity_level=ident.level.value,
        language=state.language,
        issue_summary=summary_text,
        intents=intents,
        requests=requests,
        slots=slots,
        actions=actions,
        failed_steps=failed,
        sentiment=state.sentiment,
        frustration=state.frustration,
        confidence=round(confidence, 2),
        policy_references=policies,
        recommended_next_step=NEXT_STEPS.get(reason, NEXT_STEPS["customer_request"]),
        transcript=[{"role": t.role, "text": t.text, "turn": t.turn} for t in transcript[-40:]],
    )


def _request(frame: IntentFrame) -> dict[str, Any]:
    """One request as a person reads it: what, how far it got, and what the customer refused."""
    out: dict[str, Any] = {"request": frame.intent, "status": frame.status}
    if frame.declined:
        out["refused"] = list(frame.declined)
    else:
        out["details"] = {name: slot.value for name, slot in frame.slots.items()}
    return out


def _issue(state: ConversationState, intents: list[str], open_requests: list[str], reason: str) -> str:
    who = state.identity.user_id or "an unverified customer"
    parts = [f"{who} ({state.channel}, {state.language})"]
    if intents:
        parts.append("asked for " + ", ".join(i.replace("_", " ") for i in intents))
    refused = list(dict.fromkeys(f.intent for f in state.intents if f.declined))
    if refused:
        parts.append("refused at the read-back: " + ", ".join(i.replace("_", " ") for i in refused))
    if open_requests:
        parts.append("open: " + ", ".join(i.replace("_", " ") for i in open_requests))
    done = [a for a in state.actions if a.verified]
    if done:
        parts.append("verified: " + ", ".join(f"{a.tool} ({a.confirmation_id})" for a in done))
    parts.append(f"handed off because: {reason.replace('_', ' ')}")
    return "; ".join(parts) + "."
