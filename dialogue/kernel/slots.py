"""The slot catalog: what each slot a flow collects is, as data (a domain pack's `slots.yaml`).

Each slot declares its collector, which kinds of entity answer its question, whether the words
that started a request may already fill it, whether the opening words are read again once its
question is reached, and how a correction ("no, the other card") applies to it. The kernel reads
only this; it has no slot of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dialogue.kernel.yamlfile import load_yaml

# What the kernel itself asks for, and which entities answer it.
KERNEL_EXPECTATIONS: dict[str, list[str]] = {
    "identity": ["email", "person_name", "zip"],
    "otp_code": ["otp_code"],
}


class SlotSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = ""
    collector: str
    # Entity types that answer the slot's question (what understanding is told to look for).
    entities: list[str] = Field(default_factory=list)
    # Entity types whose presence makes the words an answer to its question rather than a new
    # request (default: `entities` and a quick reply).
    answers: list[str] | None = None
    # Taken from the same words before its question is asked ("pay with paypal" while listing items).
    early: bool = False
    # Taken from the words that started the request: always, or only when an entity of its kind was named.
    from_opening: Literal["never", "always", "when_named"] = "never"
    # Read the opening words again when its question is reached ("exchange my keyboard").
    reread: bool = False
    # On a correction: the slot is given again from the words (`replace`), keeping what an
    # incomplete new value leaves out of the old one (`keep_parts`), or without falling back to the
    # old value when the new one does not take (`replace_only`).
    correction: Literal["replace", "keep_parts", "replace_only"] = "replace"
    # Entity types that say the customer is correcting this slot (default: `entities`).
    corrected_by: list[str] | None = None

    def correcting_types(self) -> set[str]:
        return set(self.corrected_by if self.corrected_by is not None else self.entities)

    def answer_types(self) -> set[str]:
        return set(self.answers if self.answers is not None else [*self.entities, "choice"])


class SlotCatalog(BaseModel):
    slots: dict[str, SlotSpec] = Field(default_factory=dict)
    source: str = ""

    @classmethod
    def load(cls, path: Path) -> SlotCatalog:
        data, lines = load_yaml(path)
        slots = {}
        for name, raw in (data or {}).items():
            try:
                slots[name] = SlotSpec.model_validate({**raw, "name": name})
            except Exception as exc:
                raise ValueError(f"{path}:{lines.get((name,), 1)}: slot {name!r} is invalid: {exc}") from None
        return cls(slots=slots, source=str(path))

    def get(self, name: str | None) -> SlotSpec | None:
        return self.slots.get(name) if name else None

    def expected(self, expects: str | None) -> list[str]:
        """Entity types that answer what the bot asked for (`expects`: a slot or a kernel question)."""
        if not expects:
            return []
        if expects in KERNEL_EXPECTATIONS:
            return list(KERNEL_EXPECTATIONS[expects])
        spec = self.slots.get(expects)
        return list(spec.entities) if spec else []

    def answer_types(self, expects: str | None) -> set[str]:
        """Entity types whose presence makes the words an answer to the question rather than a new request."""
        spec = self.slots.get(expects) if expects else None
        return spec.answer_types() if spec else set()
