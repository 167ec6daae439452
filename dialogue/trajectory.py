"""The trajectory of a conversation: every understanding, decision, tool call, verification and
response as a structured event with timings, exportable as JSON and as OpenTelemetry spans."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode

from dialogue.store import TrajectoryEvent


def to_json(session_id: str, events: list[TrajectoryEvent]) -> dict[str, Any]:
    return {"session_id": session_id, "events": [e.model_dump(mode="json") for e in events]}


def _ns(event: TrajectoryEvent) -> int:
    return int(event.started_at.timestamp() * 1e9)


def export_spans(session_id: str, events: list[TrajectoryEvent], provider: TracerProvider) -> int:
    """Emit one span per turn with a child span per event; returns the number of spans made."""
    tracer = provider.get_tracer("frontdesk.dialogue")
    made = 0
    turns: dict[int, list[TrajectoryEvent]] = {}
    for event in events:
        turns.setdefault(event.turn, []).append(event)
    for turn, items in sorted(turns.items()):
        start = min(_ns(e) for e in items)
        end = max(_ns(e) + e.duration_ms * 1_000_000 for e in items)
        parent = tracer.start_span(
            f"turn {turn}", start_time=start, attributes={"frontdesk.session_id": session_id, "frontdesk.turn": turn}
        )
        from opentelemetry import trace

        ctx = trace.set_span_in_context(parent)
        for event in items:
            attributes = {"frontdesk.kind": event.kind}
            for key, value in event.data.items():
                if isinstance(value, (str, bool, int, float)):
                    attributes[f"frontdesk.{key}"] = value
            span = tracer.start_span(
                f"{event.kind}:{event.name}", context=ctx, start_time=_ns(event), attributes=attributes
            )
            if event.kind == "tool_call" and event.data.get("status") not in ("ok", None):
                span.set_status(Status(StatusCode.ERROR, str(event.data.get("status"))))
            span.end(end_time=_ns(event) + int(timedelta(milliseconds=event.duration_ms).total_seconds() * 1e9))
            made += 1
        parent.end(end_time=max(end, start))
        made += 1
    return made
