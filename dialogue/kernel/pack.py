"""What a domain pack gives the kernel: its flows, slot catalog, collectors, identity gate, presenters,
and the few facts about its records the kernel acts on without knowing them.

`dialogue.domains.retail` is one; a deployment may bring others. Everything here is named by the
pack's files and code: the kernel holds no domain's names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dialogue.api import HandoffSummary
from dialogue.kernel.collectors import Collector
from dialogue.kernel.context import TurnContext
from dialogue.kernel.flow import Flow
from dialogue.kernel.ports import Presenters, ValueFunction
from dialogue.kernel.runner import IdentityGate
from dialogue.kernel.slots import SlotCatalog
from dialogue.kernel.yamlfile import load_yaml


class Rejection(BaseModel):
    """A back-office refusal of a write (by its error code): what to say, and which slot to ask again."""

    model_config = ConfigDict(extra="forbid")

    say: str
    reask: str | None = None  # a slot: asked again when the flow collects it
    clear: list[str] = Field(default_factory=list)  # further slots that go with it


class Rejections(BaseModel):
    """The pack's `rejections.yaml`: error code -> Rejection; `conflict` for a record changed meanwhile."""

    codes: dict[str, Rejection] = Field(default_factory=dict)
    conflict: str = "record_changed"  # said before the flow reads its records again

    @classmethod
    def load(cls, path: Path) -> Rejections:
        data = load_yaml(path)[0] or {}
        try:
            codes = {code: Rejection.model_validate(raw) for code, raw in (data.get("codes") or {}).items()}
            return cls(codes=codes, conflict=data.get("conflict", cls.model_fields["conflict"].default))
        except Exception as exc:
            raise ValueError(f"{path}: invalid rejections: {exc}") from None


# The understanding context's records for this turn: entity type -> candidates.
Candidates = Callable[[TurnContext], Awaitable[dict[str, list[Any]]]]


@dataclass
class DomainPack:
    name: str
    flows: dict[str, Flow]
    slots: SlotCatalog
    collectors: Mapping[str, Collector]
    identity: IdentityGate
    presenters: Presenters
    rejections: Rejections
    candidates: Candidates
    known_facts: Callable[[TurnContext, HandoffSummary], str]
    shape_record: Callable[[str, Any], Any] = lambda _name, value: value
    after_write: Callable[[TurnContext], None] = lambda _turn: None
    values: Mapping[str, ValueFunction] = field(default_factory=dict)
    understanding: Any = None  # the pack's understanding resources (entity parsers, intents)
    response_dirs: list[Path] = field(default_factory=list)
