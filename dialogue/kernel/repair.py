"""Conversation repair: each case a repair flow (`assets/patterns/*.yaml`), run by the same kernel.

The kernel decides when (a person asked for, a request cancelled, a turn not understood twice, a
system down, an approval still pending, an internal error); the repair flow says what is said,
asked and done. A deployment can override any of them with a file of the same name in its own
patterns folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actions.models import ToolResult
from dialogue.kernel.context import TurnContext
from dialogue.kernel.flow import Flow
from dialogue.kernel.runner import FlowRunner
from dialogue.state import IntentFrame

# The repair flows the kernel runs by name; start-up checks every one exists.
REQUIRED = (
    "human_handoff", "cancel_request", "repeat", "not_understood", "not_understood_again", "didnt_catch",
    "completed", "system_down", "offer_help", "waiting_for_approval", "internal_error", "clarification",
    "correction", "goodbye", "thanks", "how_can_i_help", "knowledge_answer", "no_policy_answer", "refusal",
    "out_of_scope", "complaint",
)  # fmt: skip


class RepairFlows:
    """Runs repair flows; the `Repair` port steps see."""

    def __init__(self, patterns: Mapping[str, Flow]) -> None:
        self.patterns = patterns
        self.runner: FlowRunner | None = None  # set once the runner (which uses this) exists

    async def run(self, turn: TurnContext, name: str, params: dict[str, Any] | None = None) -> None:
        assert self.runner is not None
        await self.runner.run_pattern(turn, self.patterns[name], params or {})

    async def hand_off(self, turn: TurnContext, reason: str) -> None:
        await self.run(turn, "human_handoff", {"reason": reason})

    async def system_down(self, turn: TurnContext, frame: IntentFrame, result: ToolResult) -> None:
        system = (result.error.details or {}).get("system") if result.error else None
        system = system or (result.systems[0] if result.systems else "")
        frame.status = "failed"
        turn.state.escalation_reason = "system_unavailable"
        turn.event("decision", "system_unavailable", {"tool": result.tool, "system": system})
        await self.run(turn, "system_down", {"system": turn.text(f"system_{system}") if system else ""})

    async def offer_help(self, turn: TurnContext, why: str) -> None:
        turn.state.offer_reason = why
        await self.run(turn, "offer_help", {"why": why})

    def option(self, expects: str | None, value: str) -> Any:
        """The option `value` of the repair-flow question that asked for `expects`, if any."""
        for pattern in self.patterns.values():
            for step in pattern.steps:
                options = getattr(step, "options", None)
                if options and getattr(step, "expects", None) == expects and value in options:
                    return options[value]
        return None

    def options(self, expects: str | None) -> dict[str, Any]:
        for pattern in self.patterns.values():
            for step in pattern.steps:
                if getattr(step, "options", None) and getattr(step, "expects", None) == expects:
                    return dict(step.options)
        return {}
