"""What a domain adds to understanding, and how the additions are put together.

An `UnderstandingPack` declares entity types (the parsers that read them, the check for a value
reported by an LLM, whether their words exclude other readings, how the LLM is told their format
and shown their candidates), the intents it serves with a line each for the LLM, and which entity
types its slot names ask for. The core understanding is itself a pack (`core.CORE`); an
understander merges it with the domain packs it is given (`combine`) and reads only the merged
pack: nothing is registered globally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from dialogue.understanding.entities.base import Parser
from dialogue.understanding.models import UnderstandingContext

__all__ = ["EntityKind", "IntentKind", "Parser", "Presenter", "Resolver", "UnderstandingPack", "combine"]

# Checks a value that did not come from our parsers (an LLM's): (value, context, language) ->
# the value in canonical form (possibly several), or [] to drop it.
Resolver = Callable[[Any, UnderstandingContext, str], list[Any]]
# One candidate record as the LLM is shown it (fields it must not see left out).
Presenter = Callable[[Any], Any]


@dataclass(frozen=True, eq=False)
class EntityKind:
    """One entity type."""

    type: str
    description: str  # the value's format, for the LLM
    resolve: Resolver
    # Its words cannot also be another exclusive entity: a digit string is a zip OR an OTP code.
    exclusive: bool = False
    # Set when the values are records of `UnderstandingContext.candidates[type]`.
    present: Presenter | None = None


@dataclass(frozen=True, eq=False)
class IntentKind:
    """One request a pack serves."""

    name: str
    description: str  # one line, for the LLM


@dataclass(frozen=True, eq=False)
class UnderstandingPack:
    """The entity types, parsers, intents and slot names one domain adds (or the core provides)."""

    name: str
    description: str = ""  # what customers talk about, for the LLM ("orders, returns, ...")
    parsers: tuple[Parser, ...] = ()
    entities: tuple[EntityKind, ...] = ()
    intents: tuple[IntentKind, ...] = ()

    @cached_property
    def _by_type(self) -> dict[str, EntityKind]:
        return {kind.type: kind for kind in self.entities}

    def entity(self, type_: str) -> EntityKind | None:
        return self._by_type.get(type_)

    @cached_property
    def entity_types(self) -> tuple[str, ...]:
        return tuple(self._by_type)

    @cached_property
    def exclusive_types(self) -> frozenset[str]:
        return frozenset(kind.type for kind in self.entities if kind.exclusive)

    @cached_property
    def candidate_types(self) -> tuple[str, ...]:
        """Entity types whose values come from `UnderstandingContext.candidates`."""
        return tuple(kind.type for kind in self.entities if kind.present is not None)

    @cached_property
    def intent_names(self) -> tuple[str, ...]:
        return tuple(intent.name for intent in self.intents)


def combine(*packs: UnderstandingPack) -> UnderstandingPack:
    """One pack with everything the given ones declare, in their order; a type or intent declared
    twice is an error rather than a silent override."""
    entities: dict[str, EntityKind] = {}
    intents: dict[str, IntentKind] = {}
    for pack in packs:
        for kind in pack.entities:
            if kind.type in entities:
                raise ValueError(f"entity type {kind.type!r} of pack {pack.name!r} is already declared")
            entities[kind.type] = kind
        for intent in pack.intents:
            if intent.name in intents:
                raise ValueError(f"intent {intent.name!r} of pack {pack.name!r} is already declared")
            intents[intent.name] = intent
    return UnderstandingPack(
        name="+".join(p.name for p in packs),
        description="; ".join(p.description for p in packs if p.description),
        parsers=tuple(parser for p in packs for parser in p.parsers),
        entities=tuple(entities.values()),
        intents=tuple(intents.values()),
    )
