"""Values named in flows: `$slot`, `$slot.field`, `$records.name.field`, `$versions.name`,
`$identity.field`, `$conversation.field`, `$params.name`, and the conditions steps test them with.

A bare path (`order.status`) reads the records the flow's read steps saved.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dialogue.state import ConversationState, IntentFrame


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    path: str
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    contains: str | None = None
    exists: bool | None = None
    at_least: float | None = None

    def holds(self, value: Any) -> bool:
        if self.exists is not None:
            return (value not in (None, "", [], {})) == self.exists
        if self.at_least is not None:
            return isinstance(value, int | float) and value >= self.at_least
        if self.in_ is not None:
            return value in self.in_
        if self.contains is not None:
            return isinstance(value, str) and self.contains in value
        if self.not_equals is not None:
            return value != self.not_equals
        return value == self.equals


def lookup(path: str, frame: IntentFrame | None, state: ConversationState, params: dict[str, Any] | None = None) -> Any:
    """The value `path` names for `frame` (None when it names nothing)."""
    if not path.startswith("$"):
        return dig(frame.records if frame else {}, path)
    head, _, rest = path[1:].partition(".")
    if head == "records":
        return dig(frame.records if frame else {}, rest)
    if head == "versions":
        return (frame.versions if frame else {}).get(rest)
    if head == "identity":
        return dig(state.identity.model_dump(), rest)
    if head == "conversation":
        return dig(state.model_dump(include={rest.split(".")[0]}), rest)
    if head == "params":
        return dig(params or {}, rest)
    value = frame.value(head) if frame else None
    return dig(value, rest) if rest else value


def resolve_args(
    args: dict[str, Any], frame: IntentFrame | None, state: ConversationState, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Tool arguments with their `$` references filled in; arguments whose value is missing are left out."""
    out = {}
    for key, raw in args.items():
        value = lookup(raw, frame, state, params) if isinstance(raw, str) and raw.startswith("$") else raw
        if value is not None:
            out[key] = value
    return out


def dig(value: Any, path: str) -> Any:
    if not path:
        return value
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value
