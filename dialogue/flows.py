"""Workflows as data: the step models, the loader for `assets/flows/*.yaml`, and value lookup.

A flow is read once at start-up and validated: an unknown step kind, a `goto` to a missing step
or a tool the registry does not know fails loudly then, not in front of a customer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, model_validator

from actions.models import IdentityLevel
from actions.paths import ASSETS_DIR
from dialogue.state import ConversationState, IntentFrame

FLOWS_DIR = ASSETS_DIR / "flows"


class Condition(BaseModel):
    path: str
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    contains: str | None = None
    exists: bool | None = None

    model_config = {"populate_by_name": True}

    def holds(self, value: Any) -> bool:
        if self.exists is not None:
            return (value not in (None, "", [], {})) == self.exists
        if self.in_ is not None:
            return value in self.in_
        if self.contains is not None:
            return isinstance(value, str) and self.contains in value
        if self.not_equals is not None:
            return value != self.not_equals
        return value == self.equals


class Otherwise(BaseModel):
    say: str | None = None
    clear: list[str] = Field(default_factory=list)
    goto: str | None = None
    end: Literal["failed", "resolved", "cancelled"] | None = None
    handoff: str | None = None


class Step(BaseModel):
    id: str
    collect: str | None = None
    call: str | None = None
    require: Condition | None = None
    confirm: str | None = None
    say: str | None = None
    handoff: str | None = None

    collector: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    ask: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    save: str | None = None
    otherwise: Otherwise | None = None
    readback: str | None = None
    success: str | None = None
    when: Condition | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Step:
        kinds = [k for k in ("collect", "call", "require", "confirm", "say", "handoff") if getattr(self, k)]
        if len(kinds) != 1:
            raise ValueError(f"step {self.id!r} must have exactly one of collect/call/require/confirm/say/handoff")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("collect", "call", "require", "confirm", "say", "handoff") if getattr(self, k))


class Flow(BaseModel):
    name: str
    description: str = ""
    identity: IdentityLevel = IdentityLevel.basic
    policy: list[str] = Field(default_factory=list)
    steps: list[Step]

    @model_validator(mode="after")
    def _gotos(self) -> Flow:
        ids = [s.id for s in self.steps]
        if len(ids) != len(set(ids)):
            raise ValueError(f"flow {self.name!r} has duplicate step ids")
        for step in self.steps:
            if step.otherwise and step.otherwise.goto and step.otherwise.goto not in ids:
                raise ValueError(f"flow {self.name!r}: step {step.id!r} jumps to unknown step {step.otherwise.goto!r}")
        return self

    def index(self, step_id: str | None) -> int:
        if step_id is None:
            return 0
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        return len(self.steps)

    def tools(self) -> set[str]:
        return {s.call or s.confirm for s in self.steps if s.call or s.confirm}


def load_flows(directory: Path = FLOWS_DIR) -> dict[str, Flow]:
    flows: dict[str, Flow] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            flow = Flow.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except Exception as exc:
            raise ValueError(f"workflow file {path.name} is invalid: {exc}") from exc
        flows[flow.name] = flow
    return flows


def lookup(path: str, frame: IntentFrame, state: ConversationState) -> Any:
    """Resolve `$slot`, `$slot.field`, `$data.key.field`, `$identity.user_id`, or a bare data path."""
    if path.startswith("$"):
        path = path[1:]
        head, _, rest = path.partition(".")
        if head == "data":
            return _dig(frame.data, rest)
        if head == "identity":
            return _dig(state.identity.model_dump(), rest)
        value = frame.value(head)
        return _dig(value, rest) if rest else value
    return _dig(frame.data, path)


def resolve_args(args: dict[str, Any], frame: IntentFrame, state: ConversationState) -> dict[str, Any]:
    out = {}
    for key, raw in args.items():
        value = lookup(raw, frame, state) if isinstance(raw, str) and raw.startswith("$") else raw
        if value is not None:
            out[key] = value
    return out


def _dig(value: Any, path: str) -> Any:
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value
