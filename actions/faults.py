"""Fault injection: make any system error, time out, slow down or lose its response.

Rules are matched per call by system and (optionally) operation, and fire a number of times or
with a probability. The same rules come from configuration (`FRONTDESK_FAULTS`), from the admin
API at run time, or from tests.

Rule syntax, comma separated: `SYSTEM[.OPERATION]:KIND[:xN|:pF|:Ds]...`, for example
`crm:error`, `billing.change_plan:lost_response:x2`, `payments:slow:1.5s`, `retail:timeout:p0.2`.
"""

from __future__ import annotations

import random
import threading
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator


class FaultKind(StrEnum):
    error = "error"  # the system answers with an error; nothing applied
    timeout = "timeout"  # no answer within the deadline; nothing applied
    slow = "slow"  # answers, late
    lost_response = "lost_response"  # applied, but the answer never arrives


class FaultRule(BaseModel):
    system: str = Field(description="system name, or * for any")
    operation: str | None = Field(default=None, description="operation name; None for any")
    kind: FaultKind
    times: int | None = Field(default=1, description="how many calls it fires on; None = every call")
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    skip: int = Field(default=0, ge=0, description="let this many matching calls through first")
    delay_s: float = Field(default=1.5, ge=0.0, description="extra latency for `slow`")

    @field_validator("system")
    @classmethod
    def _lower(cls, v: str) -> str:
        return v.strip().lower()

    def matches(self, system: str, operation: str) -> bool:
        if self.system not in ("*", system):
            return False
        return self.operation in (None, "*", operation)


def parse_rules(spec: str | None) -> list[FaultRule]:
    """Parse the compact rule syntax used in settings and on the command line."""
    rules: list[FaultRule] = []
    for raw in (spec or "").split(","):
        raw = raw.strip()
        if not raw:
            continue
        parts = raw.split(":")
        if len(parts) < 2:
            raise ValueError(f"fault rule {raw!r}: expected SYSTEM[.OP]:KIND[:xN|:pF|:Ds]")
        target, kind = parts[0], parts[1]
        system, _, operation = target.partition(".")
        try:
            rule = FaultRule(system=system, operation=operation or None, kind=FaultKind(kind))
        except ValueError as exc:
            raise ValueError(f"fault rule {raw!r}: unknown kind {kind!r}") from exc
        rule.times = None if rule.probability < 1.0 else rule.times
        for mod in parts[2:]:
            if mod.startswith("x"):
                rule.times = None if mod[1:] in ("*", "inf") else int(mod[1:])
            elif mod.startswith("p"):
                rule.probability = float(mod[1:])
                rule.times = None
            elif mod.startswith("skip"):
                rule.skip = int(mod[4:])
            elif mod.endswith("s"):
                rule.delay_s = float(mod[:-1])
            else:
                raise ValueError(f"fault rule {raw!r}: unknown modifier {mod!r}")
        rules.append(rule)
    return rules


class FaultInjector:
    """Holds the active rules and decides, per system call, which fault (if any) applies."""

    def __init__(self, rules: list[FaultRule] | None = None, *, seed: int | None = None):
        self._rules: list[FaultRule] = list(rules or [])
        self._seen: dict[int, int] = {}
        self._fired: dict[int, int] = {}
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.log: list[tuple[str, str, FaultKind]] = []

    @property
    def rules(self) -> list[FaultRule]:
        return list(self._rules)

    def add(self, *rules: FaultRule) -> None:
        with self._lock:
            self._rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()
            self._seen.clear()
            self._fired.clear()

    def decide(self, system: str, operation: str) -> FaultRule | None:
        with self._lock:
            for index, rule in enumerate(self._rules):
                if not rule.matches(system, operation):
                    continue
                seen = self._seen.get(index, 0)
                self._seen[index] = seen + 1
                if seen < rule.skip:
                    continue
                fired = self._fired.get(index, 0)
                if rule.times is not None and fired >= rule.times:
                    continue
                if rule.probability < 1.0 and self._random.random() >= rule.probability:
                    continue
                self._fired[index] = fired + 1
                self.log.append((system, operation, rule.kind))
                return rule
        return None
