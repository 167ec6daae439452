"""Walks the requests' flows until one needs the customer, then moves on to the next open request.

Before a flow's first step, the words that started the request are read for the slots the
catalog allows (`from_opening`); before any step, the identity the flow needs is checked through
the domain pack's identity gate. Each step is run by its kind's module and says how the flow goes
on (`Control`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from actions.models import IdentityLevel
from dialogue.kernel.collectors import Accepted
from dialogue.kernel.context import TurnContext
from dialogue.kernel.flow import Flow
from dialogue.kernel.ports import Ports
from dialogue.kernel.steps import (
    Control,
    StepModel,
    apologise,
    ask,
    cancel,
    collect,
    confirm,
    end,
    handoff,
    link,
    pattern,
    read,
    refuse,
    remember,
    repeat,
    require,
    say,
    set,
    ticket,
)
from dialogue.kernel.values import lookup
from dialogue.state import IntentFrame

END = "__end__"

StepRun = Callable[[Any, IntentFrame, TurnContext, Ports], Awaitable[Control]]
RUNS: dict[type[StepModel], StepRun] = {
    collect.CollectStep: collect.run,
    read.ReadStep: read.run,
    require.RequireStep: require.run,
    confirm.ConfirmStep: confirm.run,
    say.SayStep: say.run,
    set.SetStep: set.run,
    handoff.HandoffStep: handoff.run,
    link.LinkStep: link.run,
    ask.AskStep: ask.run,
    ticket.TicketStep: ticket.run,
    cancel.CancelStep: cancel.run,
    repeat.RepeatStep: repeat.run,
    end.EndStep: end.run,
    refuse.RefuseStep: refuse.run,
    pattern.PatternStep: pattern.run,
    apologise.ApologiseStep: apologise.run,
    remember.RememberStep: remember.run,
}


class IdentityGate(Protocol):
    """How a domain verifies who the customer is (its tools, its questions)."""

    async def accept(self, turn: TurnContext) -> bool | None:
        """Take identity details from the turn's evidence: True verified now, False refused, None nothing given."""

    async def prompt(self, turn: TurnContext, level: IdentityLevel) -> bool:
        """Ask for what is missing to reach `level`. False when identity cannot be established."""

    def too_many_failures(self, turn: TurnContext) -> bool: ...


def next_step(frame: IntentFrame, flow: Flow) -> None:
    index = flow.index(frame.step) + 1
    frame.step = flow.steps[index].id if index < len(flow.steps) else END


def current_step(frame: IntentFrame, flows: Mapping[str, Flow]) -> Any:
    flow = flows[frame.intent]
    index = flow.index(frame.step)
    return flow.steps[index] if index < len(flow.steps) else None


class FlowRunner:
    def __init__(self, ports: Ports, identity: IdentityGate) -> None:
        self.ports = ports
        self.identity = identity

    async def walk(self, turn: TurnContext) -> None:
        """Advance the active request; when it settles, pick up the request paused most recently."""
        state = turn.state
        for _ in range(50):
            frame = state.active
            if frame is None:
                paused = [f for f in state.intents if f.status == "paused"]
                if paused:
                    frame = paused[-1]
                    frame.status = "active"
                    turn.event("decision", "resume_intent", {"intent": frame.intent})
                    key = "back_to_request" if frame.step else "next_request"
                    turn.say(key, request=turn.text(f"intent_{frame.intent}"))
                    continue
                if not turn.asked and not turn.ended and state.mode == "bot" and state.pending_approval is None:
                    await self.ports.repair.run(turn, "completed")
                return
            if frame.step is None and not frame.started:
                frame.started = True
                await self.prefill(turn, frame)
            if await self.run(turn, frame):
                return

    async def prefill(self, turn: TurnContext, frame: IntentFrame) -> None:
        """Values given together with the request ("cancel #W123, I ordered it by mistake")."""
        for step in self.ports.flows[frame.intent].steps:
            if not isinstance(step, collect.CollectStep) or frame.value(step.collect) is not None:
                continue
            spec = self.ports.catalog.get(step.collect)
            if spec is None or spec.from_opening == "never":
                continue
            if spec.from_opening == "when_named" and not any(turn.evidence.first(t) for t in spec.entities):
                continue
            if await self.ports.collector_for(step).accept(turn, frame, step, quiet=True) is not Accepted.nothing:
                # The opening was read for this step: a value refused later is not taken from it again.
                turn.tried.add(step.id)
                frame.reread.append(step.id)

    async def run(self, turn: TurnContext, frame: IntentFrame) -> bool:
        """Advance `frame`. True when the turn must stop here (a question was asked or a person joined)."""
        state = turn.state
        flow = self.ports.flows[frame.intent]
        for _ in range(len(flow.steps) * 3 + 5):
            if frame.status != "active":
                return turn.asked or bool(turn.handoff)
            if not state.identity.level.at_least(flow.identity):
                return await self._verify(turn, frame, flow)
            index = flow.index(frame.step)
            if index >= len(flow.steps):
                frame.status = "done"
                turn.event("decision", "intent_done", {"intent": frame.intent})
                return False
            step = flow.steps[index]
            frame.step = step.id
            if step.when is not None and not step.when.holds(lookup(step.when.path, frame, state)):
                next_step(frame, flow)
                continue
            control = await RUNS[type(step)](step, frame, turn, self.ports)
            if control is Control.NEXT:
                next_step(frame, flow)
            elif control is Control.WAIT:
                return True
            elif control is Control.SETTLED:
                return False
        raise RuntimeError(f"flow {flow.name} did not settle")

    async def _verify(self, turn: TurnContext, frame: IntentFrame, flow: Flow) -> bool:
        state = turn.state
        if state.expects in ("identity", "otp_code") and turn.asked:
            return True
        if self.identity.too_many_failures(turn):
            await self.ports.repair.hand_off(turn, "identity_failed")
            return True
        if not await self.identity.prompt(turn, flow.identity):
            frame.status = "failed"
            await self.ports.repair.hand_off(turn, "identity_failed")
        return True

    async def run_pattern(self, turn: TurnContext, pattern_flow: Flow, params: dict[str, Any]) -> None:
        """Run a repair flow to its end (or its question) in a request of its own that is never stored."""
        frame = IntentFrame(intent=pattern_flow.name, started_turn=turn.state.turn, template=dict(params))
        for step in pattern_flow.steps:
            if step.when is not None and not step.when.holds(lookup(step.when.path, frame, turn.state, frame.template)):
                continue
            control = await RUNS[type(step)](step, frame, turn, self.ports)
            if control in (Control.WAIT, Control.SETTLED):
                return
