"""The expectations file of a call (`expect.yaml`) and the checks it asks for.

    description: Cancels a pending order after verifying by name and zip
    outcome: resolved                      # or a list: [handed_off, failed]
    intents: [cancel_order]                # each must have been worked on during the call
    backoffice:                            # the back office after the call
      - {order: "#W6460787", status: cancelled}
      - {path: "users.emma_brown_8847.address.zip", equals: "32165"}
    must_say: ["is now cancelled"]         # phrases the bot must say (case and punctuation ignored)
    must_not_say: ["I'm sorry"]
    max_turn_latency_ms: 2500              # end of the caller's speech to the bot's first audio
    no_policy_violation: true              # default
    barge_ins: 1                           # at least this many times the caller cut the bot off (original timing)
    handoff_reason: customer_request       # the hand-off happened for this reason
    faults: ["retail.cancel_pending_order:error:x5"]   # the back office fails like this during the call
    multilingual: true                     # the line recognises other languages (Whisper base)
    caller_channel: left                   # which channel of a stereo recording is the caller

Every check produces a `Check`: what was expected, what happened instead, and a message that
names the call, so a failing QA run says exactly what regressed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from actions.faults import parse_rules

Outcome = Literal["resolved", "handed_off", "pending_approval", "failed", "abandoned", "in_progress"]


class BackofficeCheck(BaseModel):
    """One value in the back office after the call, by path into its export (`orders.#W1.status`)."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    order: str | None = Field(default=None, description="shorthand: the order with this id ...")
    status: str | None = Field(default=None, description="... must have this status")
    equals: Any = None
    one_of: list[Any] | None = None
    contains: Any = None

    @model_validator(mode="after")
    def _shape(self) -> BackofficeCheck:
        if self.order is not None:
            self.path = self.path or f"orders.{self.order}.status"
            if self.status is not None and self.equals is None:
                self.equals = self.status
        if not self.path:
            raise ValueError("a back-office check needs a path (or an order)")
        if self.equals is None and self.one_of is None and self.contains is None:
            raise ValueError(f"back-office check {self.path}: give equals, one_of or contains")
        return self

    def describe(self) -> str:
        if self.one_of is not None:
            return f"{self.path} in {self.one_of}"
        if self.contains is not None:
            return f"{self.path} contains {self.contains!r}"
        return f"{self.path} == {self.equals!r}"


class Expectations(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    outcome: Outcome | list[Outcome] | None = None
    intents: list[str] = Field(default_factory=list)
    backoffice: list[BackofficeCheck] = Field(default_factory=list)
    must_say: list[str] = Field(default_factory=list)
    must_not_say: list[str] = Field(default_factory=list)
    max_turn_latency_ms: float | None = Field(default=None, gt=0)
    no_policy_violation: bool = True
    barge_ins: int | None = Field(default=None, ge=0)
    handoff_reason: str | None = None
    faults: list[str] = Field(default_factory=list)
    multilingual: bool | None = None
    caller_channel: Literal["left", "right", "0", "1"] | None = None
    caller_phone: str | None = None

    @model_validator(mode="after")
    def _faults_parse(self) -> Expectations:
        for rule in self.faults:
            parse_rules(rule)  # raises ValueError with the rule named
        return self

    @property
    def fault_spec(self) -> str:
        return ",".join(self.faults)


class ExpectationError(ValueError):
    """An expectations file that cannot be used, with the file named."""


def load(path: Path | None) -> Expectations:
    if path is None:
        return Expectations()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ExpectationError(f"{path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ExpectationError(f"{path}: expected a mapping of expectations")
    if isinstance(raw.get("caller_channel"), int):
        raw["caller_channel"] = str(raw["caller_channel"])
    try:
        return Expectations.model_validate(raw)
    except (ValidationError, ValueError) as exc:
        raise ExpectationError(f"{path}: {exc}") from exc


class Check(BaseModel):
    expectation: str
    passed: bool
    expected: str
    actual: str
    message: str = ""


def normalize(text: str) -> str:
    """Lower case, punctuation and repeated spaces dropped, so a phrase matches however it is punctuated."""
    return " ".join(re.sub(r"[^\w#$%.@-]+", " ", text.lower()).replace(". ", " ").split()).strip(". ")


def lookup(data: Any, path: str) -> tuple[bool, Any]:
    """Follow a dotted path (keys may hold '#'; list items by index); (found, value)."""
    node = data
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def evaluate(name: str, expect: Expectations, facts: dict[str, Any], *, timing: str = "original") -> list[Check]:
    """Check a call's facts against its expectations (`timing`: how a replay paced the caller).

    `facts` holds: outcome, intents, bot_texts, turn_latencies_ms (turn -> ms), policy_violations,
    barge_ins, handoff_reason, backoffice (the export, or None when not needed).
    """
    checks: list[Check] = []

    def add(expectation: str, passed: bool, expected: str, actual: str) -> None:
        message = "" if passed else f"call {name!r}: expected {expectation} {expected}, but {actual}"
        checks.append(Check(expectation=expectation, passed=passed, expected=expected, actual=actual, message=message))

    if expect.outcome is not None:
        wanted = expect.outcome if isinstance(expect.outcome, list) else [expect.outcome]
        outcome = facts["outcome"]
        detail = f"the outcome was {outcome}"
        if facts.get("handoff_reason"):
            detail += f" (hand-off reason: {facts['handoff_reason']})"
        add("outcome", outcome in wanted, " or ".join(wanted), detail)
    for intent in expect.intents:
        seen = facts["intents"]
        add("intent", intent in seen, intent, f"the intents were {seen or 'none'}")
    spoken = [normalize(t) for t in facts["bot_texts"]]
    everything = " | ".join(spoken)
    for phrase in expect.must_say:
        found = normalize(phrase) in everything
        add("must_say", found, repr(phrase), f"the bot never said it (it said: {_clip(everything)})")
    for phrase in expect.must_not_say:
        said = [t for t in spoken if normalize(phrase) in t]
        add("must_not_say", not said, f"never {phrase!r}", f"the bot said: {_clip(said[0]) if said else ''}")
    if expect.max_turn_latency_ms is not None:
        latencies = facts["turn_latencies_ms"]
        worst = max(latencies.items(), key=lambda kv: kv[1]) if latencies else None
        passed = worst is None or worst[1] <= expect.max_turn_latency_ms
        actual = "no turn was measured" if worst is None else f"turn {worst[0]} took {worst[1]:.0f} ms"
        add("max_turn_latency_ms", passed, f"<= {expect.max_turn_latency_ms:.0f} ms", actual)
    if expect.no_policy_violation:
        violations = facts["policy_violations"]
        add("no_policy_violation", not violations, "no policy violation", f"found: {'; '.join(violations)}")
    # With turns timing the caller always waits for the bot: there is no barge-in to expect.
    if expect.barge_ins is not None and timing == "original":
        count = facts["barge_ins"]
        add(
            "barge_ins",
            count >= expect.barge_ins,
            f">= {expect.barge_ins}",
            f"the caller cut the bot off {count} times",
        )
    if expect.handoff_reason is not None:
        reason = facts.get("handoff_reason")
        add("handoff_reason", reason == expect.handoff_reason, expect.handoff_reason,
            f"the hand-off reason was {reason}" if reason else "there was no hand-off")  # fmt: skip
    for check in expect.backoffice:
        found, value = lookup(facts.get("backoffice") or {}, check.path or "")
        if check.one_of is not None:
            passed = found and value in check.one_of
        elif check.contains is not None:
            passed = found and check.contains in (value or [])
        else:
            passed = found and value == check.equals
        actual = f"{check.path} is {value!r}" if found else f"{check.path} is not in the back office"
        add("backoffice", passed, check.describe(), actual)
    return checks


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
