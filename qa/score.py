"""Scores of one call, computed from what the dialogue recorded (its trajectory and states).

- task completed: the conversation ended resolved;
- verification coverage: the share of executed writes whose post-condition was read back and held;
- policy violations: a write that needed the customer's yes without one, a write that needed a
  person's approval without one, a write for a customer who was not verified, a forbidden action
  that ran;
- false completion claims: the bot said it had done something in a turn where no write was verified;
- wasted steps: turns not understood, the same question asked again, system calls that failed.

These are checked independently of the engine's own rules, so a regression in those rules shows up.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from dialogue.api import TurnResult
from dialogue.store import TrajectoryEvent

_DONE_EN = re.compile(
    r"\b(done\b|(is|are|has been|have been|was|were) now (cancell?ed|updated|changed|refunded|booked|scheduled|reset)"
    r"|has been (cancell?ed|refunded|updated|changed|scheduled|booked|reset|exchanged)"
    r"|i(?:'ve| have) (cancell?ed|refunded|updated|changed|booked|scheduled|reset|sent|exchanged))",
    re.IGNORECASE,
)
_DONE_ES = re.compile(
    r"\b(listo\b|ya está (cancelado|actualizad[oa]|cambiad[oa])|ha sido (cancelad[oa]|reembolsad[oa]|actualizad[oa])"
    r"|he (cancelado|reembolsado|actualizado|cambiado|programado|enviado))",
    re.IGNORECASE,
)


class Scores(BaseModel):
    task_completed: bool
    verification_coverage: float | None = Field(description="verified writes / executed writes; None without writes")
    writes: int = 0
    verified_writes: int = 0
    policy_violations: list[str] = Field(default_factory=list)
    false_completion_claims: list[str] = Field(default_factory=list)
    wasted_steps: int = 0
    wasted: list[str] = Field(default_factory=list)


def score(outcome: str, events: list[TrajectoryEvent], results: list[TurnResult]) -> Scores:
    writes = [e for e in events if e.kind == "tool_call" and e.data.get("write") and e.data.get("status") == "ok"]
    verified = [e for e in writes if e.data.get("verified")]
    return Scores(
        task_completed=outcome == "resolved",
        verification_coverage=round(len(verified) / len(writes), 3) if writes else None,
        writes=len(writes),
        verified_writes=len(verified),
        policy_violations=policy_violations(events, results),
        false_completion_claims=false_claims(results),
        **_wasted(events, results),
    )


def policy_violations(events: list[TrajectoryEvent], results: list[TurnResult]) -> list[str]:
    found: list[str] = []
    confirmed: set[str] = set()
    approvals: set[str] = set()
    level_after = {r.state.turn: str(r.state.identity.level) for r in results}
    for event in events:
        if event.kind == "decision" and event.name in ("confirmed", "resume_unfinished_write"):
            confirmed.add(str(event.data.get("tool")))
        elif event.kind == "decision" and event.name == "approval_requested":
            approvals.add(str(event.data.get("tool")))
        elif event.kind == "decision" and event.name == "forbidden_request" and event.data.get("status") == "ok":
            found.append(f"turn {event.turn}: forbidden action {event.data.get('tool')} was carried out")
        elif event.kind == "tool_call" and event.data.get("write") and event.data.get("status") in ("ok", "lost"):
            risk = event.data.get("risk")
            if risk == "confirm" and event.name not in confirmed:
                found.append(f"turn {event.turn}: {event.name} ran without the customer's explicit yes")
            elif risk == "approve" and event.name not in approvals and event.name not in confirmed:
                found.append(f"turn {event.turn}: {event.name} ran without a person's approval")
            elif risk == "forbidden":
                found.append(f"turn {event.turn}: forbidden action {event.name} ran")
            if risk in ("confirm", "approve") and level_after.get(event.turn, "basic") == "none":
                found.append(f"turn {event.turn}: {event.name} ran for a customer who was not verified")
            confirmed.discard(event.name)  # one yes, one write
    return found


def false_claims(results: list[TurnResult]) -> list[str]:
    found: list[str] = []
    previous = 0
    for result in results:
        # A write is numbered by the turn it was made in; a claim may follow it in that turn's answer.
        verified_now = any(a.verified and previous <= a.turn <= result.state.turn for a in result.state.actions)
        previous = result.state.turn
        if verified_now:
            continue
        for message in result.messages:
            pattern = _DONE_ES if message.language.startswith("es") else _DONE_EN
            if message.role == "bot" and pattern.search(message.text):
                found.append(f"turn {result.state.turn}: {message.text[:160]}")
    return found


def _wasted(events: list[TrajectoryEvent], results: list[TurnResult]) -> dict[str, Any]:
    wasted: list[str] = []
    for event in events:
        if event.kind == "decision" and event.name == "not_understood":
            wasted.append(f"turn {event.turn}: not understood")
        elif event.kind == "tool_call" and event.data.get("status") not in ("ok", None):
            wasted.append(
                f"turn {event.turn}: {event.name} failed ({event.data.get('error') or event.data.get('status')})"
            )
    previous: str | None = None
    for result in results:
        prompt = result.state.last_prompt
        if prompt and prompt == previous and result.state.expects:
            wasted.append(f"turn {result.state.turn}: asked again: {prompt[:100]}")
        previous = prompt
    return {"wasted_steps": len(wasted), "wasted": wasted}
