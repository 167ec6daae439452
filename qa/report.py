"""The call report: one `CallReport` per call (written as `<call>/report.json`), and the aggregate.

Times in a report are seconds from the start of the call, on the call's own clock (a replay's is
virtual), so a timeline reads like the call did. Latencies are in milliseconds. What the caller
and the bot said as audio is the channel's to keep; the report holds what was said and done.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from qa.expect import Check
from qa.score import Scores


class LineEvent(BaseModel):
    """Something that happened on the call's line, for its timeline."""

    at_s: float
    kind: str  # caller_speech, bot_audio, mark, clear, stop, hang_up
    end_s: float | None = None
    name: str | None = None


class TranscriptLine(BaseModel):
    at_s: float
    end_s: float | None = None
    speaker: str  # caller | bot
    text: str
    turn: int
    language: str | None = None
    interrupted: bool = False


class TurnReport(BaseModel):
    turn: int
    kind: str
    caller_text: str | None = None
    at_s: float | None = None
    bot_texts: list[str] = Field(default_factory=list)
    filler: bool = False
    state: dict[str, Any] | None = Field(default=None, description="the workflow state after the turn")
    latency_ms: dict[str, float | None] = Field(default_factory=dict)


class ToolCall(BaseModel):
    turn: int
    tool: str
    systems: list[str] = Field(default_factory=list)
    write: bool = False
    risk: str | None = None
    status: str | None = None
    error: str | None = None
    verified: bool | None = None
    confirmation_id: str | None = None
    checks: list[str] = Field(default_factory=list)
    arguments: dict[str, Any] | None = None
    evidence: dict[str, Any] | None = None
    duration_ms: int = 0


class CallReport(BaseModel):
    name: str
    audio_file: str
    expect_file: str | None = None
    description: str | None = None
    timing: str
    caller_audio_s: float = 0.0
    call_s: float = 0.0
    wall_s: float = 0.0
    speed: float = 0.0
    session_id: str | None = None
    outcome: str = "in_progress"
    intents: list[str] = Field(default_factory=list)
    language: str | None = None
    hung_up_by: str | None = None
    barge_ins: int = 0
    handoff: dict[str, Any] | None = None
    escalation_reason: str | None = None
    systems_touched: list[str] = Field(default_factory=list)
    transcript: list[TranscriptLine] = Field(default_factory=list)
    turns: list[TurnReport] = Field(default_factory=list)
    tool_calls: list[ToolCall] = Field(default_factory=list)
    timeline: list[LineEvent] = Field(default_factory=list)
    scores: Scores | None = None
    checks: list[Check] = Field(default_factory=list)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and all(c.passed for c in self.checks)

    def failures(self) -> list[str]:
        if self.error is not None:
            return [f"call {self.name!r}: the replay failed: {self.error}"]
        return [c.message for c in self.checks if not c.passed]

    def turn_latencies(self) -> list[float]:
        return [t.latency_ms["total"] for t in self.turns if t.latency_ms.get("total") is not None]  # type: ignore[misc]


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


class Aggregate(BaseModel):
    calls: int
    passed: int
    containment_rate: float | None = Field(description="calls resolved without a person / calls")
    escalation_reasons: dict[str, int]
    partial_failure_rate: float | None = Field(description="calls where a system call failed / calls")
    systems_per_resolution: float | None = Field(description="distinct systems touched per resolved call")
    latency_ms: dict[str, float | None]
    outcomes: dict[str, int]
    task_completion_rate: float | None
    verification_coverage: float | None
    policy_violations: int
    false_completion_claims: int
    wasted_steps: int
    caller_audio_s: float
    call_s: float
    wall_s: float


def aggregate(reports: list[CallReport], wall_s: float) -> Aggregate:
    done = [r for r in reports if r.error is None]
    n = len(done)
    resolved = [r for r in done if r.outcome == "resolved"]
    reasons: dict[str, int] = {}
    for r in done:
        if r.outcome == "handed_off":
            key = r.escalation_reason or "unknown"
            reasons[key] = reasons.get(key, 0) + 1
    outcomes: dict[str, int] = {}
    for r in done:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    latencies = [v for r in done for v in r.turn_latencies()]
    writes = sum(r.scores.writes for r in done if r.scores)
    verified = sum(r.scores.verified_writes for r in done if r.scores)
    failed_calls = [r for r in done if any(t.status not in ("ok", None) for t in r.tool_calls)]
    return Aggregate(
        calls=len(reports),
        passed=sum(1 for r in reports if r.passed),
        containment_rate=round(len(resolved) / n, 3) if n else None,
        escalation_reasons=reasons,
        partial_failure_rate=round(len(failed_calls) / n, 3) if n else None,
        systems_per_resolution=round(sum(len(r.systems_touched) for r in resolved) / len(resolved), 2)
        if resolved
        else None,
        latency_ms={
            "p50": percentile(latencies, 50),
            "p90": percentile(latencies, 90),
            "p95": percentile(latencies, 95),
            "max": max(latencies) if latencies else None,
        },
        outcomes=outcomes,
        task_completion_rate=round(sum(1 for r in done if r.scores and r.scores.task_completed) / n, 3) if n else None,
        verification_coverage=round(verified / writes, 3) if writes else None,
        policy_violations=sum(len(r.scores.policy_violations) for r in done if r.scores),
        false_completion_claims=sum(len(r.scores.false_completion_claims) for r in done if r.scores),
        wasted_steps=sum(r.scores.wasted_steps for r in done if r.scores),
        caller_audio_s=round(sum(r.caller_audio_s for r in reports), 2),
        call_s=round(sum(r.call_s for r in reports), 2),
        wall_s=round(wall_s, 2),
    )


def folder_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "call"


def write_call(directory: Path, report: CallReport) -> Path:
    """`<dir>/<call>/report.json`; returns the call's folder."""
    folder = directory / folder_name(report.name)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return folder


def write_summary(directory: Path, reports: list[CallReport], summary: Aggregate) -> Path:
    path = directory / "summary.json"
    body = {
        "aggregate": summary.model_dump(mode="json"),
        "calls": [
            {
                "name": r.name,
                "passed": r.passed,
                "outcome": r.outcome,
                "failures": r.failures(),
                "report": f"{folder_name(r.name)}/report.json",
            }
            for r in reports
        ],
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path
