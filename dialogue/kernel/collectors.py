"""Slot collectors: how a slot is asked for, offered as choices, and accepted from a turn's evidence.

A collector reads only typed evidence (entities, acts, a quick reply, keypad digits) and the
customer's own records; it never decides what the business allows, it only gathers the values a
governed tool will check again. Domain packs bring their collectors; the kernel has the base
class and the one collector that needs no domain: a choice from a fixed list given in the step.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from dialogue.kernel.context import TurnContext
from dialogue.state import Choice, IntentFrame, Slot

if TYPE_CHECKING:
    from dialogue.kernel.steps.collect import CollectStep


class Accepted(Enum):
    nothing = "nothing"  # the input said nothing about this slot
    filled = "filled"  # the slot now has its value
    progress = "progress"  # part of it was given (an item of a list, part of an address)
    rejected = "rejected"  # it was about this slot but not acceptable; the customer has been told why


def set_slot(
    turn: TurnContext, frame: IntentFrame, name: str, value: Any, *, confidence: float = 1.0, source: str = "customer"
) -> None:
    frame.slots[name] = Slot(name=name, value=value, source_turn=turn.state.turn, confidence=confidence, source=source)
    turn.event("decision", "fill_slot", {"intent": frame.intent, "slot": name, "value": value, "source": source})


class Collector:
    """Asks for one slot and accepts it. Subclasses override what their slot needs."""

    def done(self, frame: IntentFrame, step: CollectStep) -> bool:
        return frame.value(step.collect) not in (None, "", [])

    async def prompt(
        self, turn: TurnContext, frame: IntentFrame, step: CollectStep, *, prefix: str | None = None
    ) -> bool:
        """Ask for the slot. False when it cannot be collected at all (the customer has been told why)."""
        turn.ask(step.ask or f"ask_{step.collect}", expects=step.collect, prefix=prefix)
        return True

    async def accept(
        self, turn: TurnContext, frame: IntentFrame, step: CollectStep, *, quiet: bool = False
    ) -> Accepted:
        return Accepted.nothing

    async def autofill(self, turn: TurnContext, frame: IntentFrame, step: CollectStep) -> bool:
        """Fill the slot without asking when there is only one possible value (the read-back confirms it)."""
        return False

    def keywords(self, step: CollectStep) -> dict[str, list[str]]:
        """Words that pick each value (understanding turns them into evidence)."""
        return {}

    def options(self, step: CollectStep) -> list[str]:
        """The fixed values the slot takes, when it has a fixed list (a plain answer, never a new request)."""
        return []


class ChoiceCollector(Collector):
    """A slot whose values are a fixed list given in the step's params: `options: {value: label_key}`,
    optionally `keywords: {value: [word, ...]}`."""

    def _choices(self, turn: TurnContext, step: CollectStep) -> list[Choice]:
        return [Choice(label=turn.text(label), value=value) for value, label in step.params.get("options", {}).items()]

    def keywords(self, step: CollectStep) -> dict[str, list[str]]:
        return {value: list(words) for value, words in step.params.get("keywords", {}).items()}

    def options(self, step: CollectStep) -> list[str]:
        return list(step.params.get("options", {}))

    async def prompt(self, turn, frame, step, *, prefix=None) -> bool:
        turn.ask(
            step.ask or f"ask_{step.collect}", expects=step.collect, choices=self._choices(turn, step), prefix=prefix
        )
        return True

    async def accept(self, turn, frame, step, *, quiet=False) -> Accepted:
        allowed = set(step.params.get("options", {}))
        value = turn.evidence.picked(allowed)
        if value not in allowed:
            value = next((str(e.value) for e in turn.evidence.entities if str(e.value) in allowed), None)
        if value not in allowed:
            hits = [v for v in turn.evidence.keywords if v in allowed]
            value = hits[0] if len(hits) == 1 else None
        if value in allowed:
            set_slot(turn, frame, step.collect, value)
            return Accepted.filled
        return Accepted.nothing


KERNEL_COLLECTORS: dict[str, Collector] = {"choice": ChoiceCollector()}
