"""The ports steps get besides the turn: the slot catalog, collectors, presenters, the tool registry's
risk decision, record shaping, and repair (conversation repair run as flows). Narrow on purpose:
a step can ask for exactly these, never for the engine.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from actions.models import RiskClass, ToolResult
from dialogue.api import HandoffSummary
from dialogue.kernel.collectors import Collector
from dialogue.kernel.context import TurnContext
from dialogue.kernel.slots import SlotCatalog
from dialogue.state import IntentFrame
from dialogue.store import TranscriptEntry

if TYPE_CHECKING:
    from dialogue.kernel.flow import Flow
    from dialogue.kernel.steps.collect import CollectStep
    from dialogue.kernel.steps.confirm import ConfirmStep


class Presenters(Protocol):
    """What the customer hears around records and actions, worded by the domain pack's templates."""

    async def prepare(self, turn: TurnContext, frame: IntentFrame, step: ConfirmStep, args: dict[str, Any]) -> None:
        """Fetch what a read-back will need that the request does not hold yet."""

    def readback(self, turn: TurnContext, frame: IntentFrame, step: ConfirmStep, args: dict[str, Any]) -> str: ...

    def outcome(self, turn: TurnContext, frame: IntentFrame, step: ConfirmStep, result: ToolResult) -> str: ...

    def say(self, turn: TurnContext, frame: IntentFrame, key: str) -> str: ...

    def presents(self, tool: str) -> bool:
        """Whether the pack words this write's read-back and outcome (checked at start-up)."""


class Repair(Protocol):
    """Conversation repair, each case a flow of its own (`dialogue.kernel.repair`)."""

    async def hand_off(self, turn: TurnContext, reason: str) -> None: ...

    async def system_down(self, turn: TurnContext, frame: IntentFrame, result: ToolResult) -> None: ...

    async def offer_help(self, turn: TurnContext, why: str) -> None: ...

    async def run(self, turn: TurnContext, name: str, params: dict[str, Any] | None = None) -> None: ...


# (turn, frame) -> a value a flow's `set` step gives a slot.
ValueFunction = Callable[[TurnContext, IntentFrame], Any]


@dataclass
class Ports:
    catalog: SlotCatalog
    collector_for: Callable[[CollectStep], Collector]
    presenters: Presenters
    risk_of: Callable[[str, dict[str, Any]], RiskClass]  # raises when the arguments are not valid for the tool
    shape_record: Callable[[str, Any], Any]
    values: Mapping[str, ValueFunction]
    repair: Repair
    flows: Mapping[str, Flow]
    patterns: Mapping[str, Flow]
    history: Callable[[str], Awaitable[list[TranscriptEntry]]]  # the conversation's stored transcript
    known_facts: Callable[[TurnContext, HandoffSummary], str]  # what the person taking over knows, in words
