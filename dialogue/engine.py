"""The dialogue engine: the conversation API every channel drives, around the flow kernel.

Per turn the engine loads the conversation (from memory, else the store), lets the kernel run it
(`dialogue.kernel.execute`: understanding into commands, commands into effects), and saves it:
after every turn and right before every write, so a crash loses nothing and a resume finishes the
write through its idempotency key. People (an agent joining, replying, handing back; approvals)
act on conversations through the same API. The domain knowledge comes from the domain pack the
composition root gives it (`dialogue.domains.retail` in Frontdesk); start-up checks every flow against
it (`dialogue.kernel.validate`).
"""

from __future__ import annotations

import asyncio
import functools
import secrets
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from actions import approvals
from actions.backoffice import Backoffice
from actions.models import RiskClass, utcnow
from dialogue.api import BotMessage, CustomerInput, HandoffSummary, TurnResult, UnknownSession
from dialogue.forbidden import ForbiddenRequests
from dialogue.handoff import build_summary
from dialogue.kernel.collectors import KERNEL_COLLECTORS
from dialogue.kernel.context import TurnContext
from dialogue.kernel.effects import Say
from dialogue.kernel.execute import Kernel, KernelConfig
from dialogue.kernel.flow import Flow, load_patterns
from dialogue.kernel.pack import DomainPack
from dialogue.kernel.ports import Ports
from dialogue.kernel.repair import RepairFlows
from dialogue.kernel.runner import FlowRunner, current_step
from dialogue.kernel.validate import validate
from dialogue.kernel.writes import Writes
from dialogue.knowledge import KnowledgeBase
from dialogue.redact import redact
from dialogue.responses import Responses
from dialogue.state import Channel, ConversationState
from dialogue.store import SessionStore, StaleState, TranscriptEntry
from dialogue.understanding.commands import CommandGenerator
from dialogue.understanding.models import Understander

PATTERNS_DIR = Path(__file__).resolve().parent.parent / "assets" / "patterns"


class EngineConfig(BaseModel):
    languages: tuple[str, ...] = ("en", "es")
    default_language: str = "en"
    max_not_understood: int = 2
    frustration_handoff: int = 2
    intent_switch_confidence: float = 0.55
    # A request this clear starts a new flow even while answering the current question
    # ("wait, first where is my order W123").
    digression_confidence: float = 0.9
    cached_sessions: int = 2000
    # Repair flows of this deployment, each replacing the shipped one of the same name.
    pattern_dirs: tuple[Path, ...] = ()


_T = TypeVar("_T")


def _again_if_stale(method: Callable[..., Awaitable[_T]]) -> Callable[..., Awaitable[_T]]:
    """Play a state change once more on the stored state when another server changed it meanwhile."""

    @functools.wraps(method)
    async def wrapper(self: DialogueEngine, *args: Any, **kwargs: Any) -> _T:
        try:
            return await method(self, *args, **kwargs)
        except StaleState:
            return await method(self, *args, **kwargs)

    return wrapper


class DialogueEngine:
    def __init__(
        self,
        backoffice: Backoffice,
        understander: Understander,
        *,
        pack: DomainPack,
        config: EngineConfig | None = None,
        store: SessionStore | None = None,
        responses: Responses | None = None,
        knowledge: KnowledgeBase | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.backoffice = backoffice
        self.understander = understander
        self.config = config or EngineConfig()
        self.store = store or SessionStore(backoffice.db)
        self.pack = pack
        self.responses = responses or Responses.load(extra=self.pack.response_dirs)
        self.knowledge = knowledge or KnowledgeBase.load()
        self.forbidden = ForbiddenRequests.load()
        self.clock = clock
        self.cache: dict[str, Any] = {}
        self._record_cache: dict[str, dict[str, Any]] = {}
        self._states: dict[str, ConversationState] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.listeners: list[Callable[[str, TurnResult], Any]] = []
        self.flows: dict[str, Flow] = self.pack.flows
        self.patterns: dict[str, Flow] = load_patterns([PATTERNS_DIR, *self.config.pattern_dirs])
        # Everything a flow or repair flow names must exist now, not in front of a customer.
        validate(self.flows, self.patterns, self.pack, self.responses, backoffice.registry)
        self.kernel = self._kernel()

    def _kernel(self) -> Kernel:
        pack = self.pack
        collectors = {**KERNEL_COLLECTORS, **pack.collectors}
        repair = RepairFlows(self.patterns)
        ports = Ports(
            catalog=pack.slots,
            collector_for=lambda step: collectors[step.collector or pack.slots.slots[step.collect].collector],
            presenters=pack.presenters,
            risk_of=self._risk_of,
            shape_record=pack.shape_record,
            values=pack.values,
            repair=repair,
            flows=self.flows,
            patterns=self.patterns,
            history=self.store.transcript,
            known_facts=pack.known_facts,
        )
        runner = FlowRunner(ports, pack.identity)
        repair.runner = runner
        config = KernelConfig(
            languages=self.config.languages,
            max_not_understood=self.config.max_not_understood,
            frustration_handoff=self.config.frustration_handoff,
            intent_switch_confidence=self.config.intent_switch_confidence,
            digression_confidence=self.config.digression_confidence,
        )
        return Kernel(
            pack=pack,
            ports=ports,
            repair=repair,
            runner=runner,
            writes=Writes(ports, pack, runner, self.backoffice, self._checkpoint),
            understander=self.understander,
            generator=CommandGenerator(self.understander, self.forbidden.match),
            knowledge=self.knowledge,
            config=config,
            clock=self.clock,
        )

    def _risk_of(self, tool: str, args: dict[str, Any]) -> RiskClass:
        spec = self.backoffice.registry.get(tool)
        return spec.risk_for(spec.input.model_validate(args), self.backoffice.policy)

    async def open(self) -> DialogueEngine:
        await self.store.open()
        # Embedding the knowledge base's questions takes a second or two: not in a customer's turn.
        await asyncio.to_thread(self.knowledge.warm_up)
        return self

    async def shutdown(self) -> None:
        """Write what is pending (trajectory events); the back office is closed by its owner."""
        await self.store.close()

    def session_cache(self, session_id: str) -> dict[str, Any]:
        """Per-session records cache, most recently used kept, bounded so memory stays flat."""
        cache = self._record_cache.pop(session_id, None) or {}
        self._record_cache[session_id] = cache
        while len(self._record_cache) > self.config.cached_sessions:
            self._record_cache.pop(next(iter(self._record_cache)))
        return cache

    def busy(self, session_id: str) -> bool:
        """Whether this process is in the middle of a turn of the session."""
        lock = self._locks.get(session_id)
        return lock is not None and lock.locked()

    def forget(self, session_id: str) -> None:
        """Drop the in-memory copy of a session another server changed: the next turn reads the store."""
        self._states.pop(session_id, None)

    def _lock(self, session_id: str) -> asyncio.Lock:
        lock = self._locks.get(session_id)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[session_id] = lock
        return lock

    def _new_turn(self, state: ConversationState, inp: CustomerInput | None = None) -> TurnContext:
        turn = TurnContext(
            state=state,
            backoffice=self.backoffice,
            responses=self.responses,
            cache=self.session_cache(state.session_id),
            shared=self.cache,
            inp=inp or CustomerInput(),
        )
        turn.reread = lambda text, expects: self.kernel.reread(turn, text, expects)
        return turn

    # ================================================================== public API

    async def start(
        self,
        channel: Channel,
        *,
        language: str | None = None,
        caller_phone: str | None = None,
        session_id: str | None = None,
    ) -> TurnResult:
        sid = session_id or secrets.token_urlsafe(24)
        lang = language if language in self.config.languages else self.config.default_language
        state = ConversationState(session_id=sid, channel=channel, language=lang)
        state.identity.phone_hint = caller_phone
        turn = self._new_turn(state)
        turn.ask("greeting", expects=None)
        state.expects = None
        turn.event("decision", "session_started", {"channel": channel, "language": lang})
        await self.store.save(state, previous_revision=None, transcript=turn.transcript, events=turn.events)
        return self._result(turn)

    async def load(self, session_id: str) -> ConversationState | None:
        return await self.store.load(session_id)

    async def transcript(self, session_id: str) -> list[TranscriptEntry]:
        return await self.store.transcript(session_id)

    @_again_if_stale
    async def resume(self, session_id: str) -> TurnResult:
        async with self._lock(session_id):
            state = await self._state(session_id)
            prev = state.revision
            turn = self._new_turn(state)
            unfinished = [a for a in state.actions if a.stage == "executing"]
            if unfinished:
                await self.kernel.writes.finish_unverified(turn, unfinished[-1])
            elif state.mode == "agent":
                turn.say("resume_with_agent")
            elif state.last_prompt:
                turn.emit(Say(text=state.last_prompt, choices=list(state.choices), expects=state.expects))
            else:
                await self.kernel.repair.run(turn, "completed")
            await self._save(turn, prev)
            return self._result(turn, resumed=True)

    async def handle(self, session_id: str, user_input: CustomerInput) -> TurnResult:
        async with self._lock(session_id):
            for attempt in range(2):
                state = await self._state(session_id)
                prev = state.revision
                state.turn += 1
                turn = self._new_turn(state, user_input)
                turn.saved_revision = prev
                try:
                    try:
                        await self.kernel.turn(turn)
                    except StaleState:
                        raise
                    except Exception as exc:
                        turn.event("error", type(exc).__name__, {"message": str(exc)[:500]})
                        turn.messages.clear()
                        await self.kernel.repair.run(turn, "internal_error")
                    self._refresh_outcome(state)
                    await self._save(turn, turn.saved_revision)
                except StaleState:
                    # Another server moved this conversation on: take its state and play the turn again.
                    if attempt:
                        raise
                    continue
                return self._result(turn)
            raise AssertionError("unreachable")

    @_again_if_stale
    async def end(self, session_id: str, reason: str = "customer_left") -> ConversationState | None:
        async with self._lock(session_id):
            try:
                state = await self._state(session_id)
            except UnknownSession:
                return None
            prev = state.revision
            turn = self._new_turn(state)
            if state.outcome == "in_progress":
                state.outcome = "abandoned" if not any(f.status == "done" for f in state.intents) else "resolved"
            if state.mode == "bot":
                state.mode = "closed"
            turn.event("decision", "session_ended", {"reason": reason, "outcome": state.outcome})
            await self._save(turn, prev)
            return state

    # --------------------------------------------------------------- people

    async def agent_join(self, session_id: str, agent: str) -> TurnResult:
        return await self._as_agent(session_id, agent, "agent_joined", mode="agent")

    @_again_if_stale
    async def agent_message(self, session_id: str, agent: str, text: str) -> TurnResult:
        async with self._lock(session_id):
            state = await self._must_load(session_id)
            prev = state.revision
            turn = self._new_turn(state)
            text = redact(text)
            message = BotMessage(role="agent", text=text, language=state.language)
            turn.messages.append(message)
            turn.transcript.append(
                TranscriptEntry(
                    turn=state.turn, role="agent", text=text, language=state.language, extra={"agent": agent}
                )
            )
            turn.event("agent", "message", {"agent": agent})
            await self._save(turn, prev)
            return self._result(turn)

    @_again_if_stale
    async def hand_back(self, session_id: str, agent: str) -> TurnResult:
        async with self._lock(session_id):
            state = await self._must_load(session_id)
            prev = state.revision
            turn = self._new_turn(state)
            state.mode = "bot"
            state.agent = None
            state.outcome = "in_progress"
            state.not_understood_streak = 0
            state.frustration = 0
            turn.event("agent", "hand_back", {"agent": agent})
            turn.say("back_with_bot")
            await self.kernel.repair.run(turn, "completed")
            await self._save(turn, prev)
            return self._result(turn)

    @_again_if_stale
    async def close(self, session_id: str, agent: str) -> TurnResult:
        async with self._lock(session_id):
            state = await self._must_load(session_id)
            prev = state.revision
            turn = self._new_turn(state)
            state.mode = "closed"
            turn.event("agent", "close", {"agent": agent})
            turn.say("closed_by_agent")
            turn.ended = True
            await self._save(turn, prev)
            return self._result(turn)

    @_again_if_stale
    async def _as_agent(self, session_id: str, agent: str, key: str, *, mode: str) -> TurnResult:
        async with self._lock(session_id):
            state = await self._must_load(session_id)
            prev = state.revision
            turn = self._new_turn(state)
            state.mode = mode  # type: ignore[assignment]
            state.agent = agent
            turn.event("agent", "join", {"agent": agent})
            turn.say(key, agent=agent)
            await self._save(turn, prev)
            return self._result(turn)

    async def handoff_summary(self, session_id: str) -> HandoffSummary:
        """The hand-off summary of a session as it stands now (rebuilt from the stored state)."""
        state = await self._must_load(session_id)
        summary = build_summary(
            state, await self.store.transcript(session_id), state.escalation_reason or "customer_request", self.flows
        )
        summary.ticket_id = state.handoff_ticket_id
        return summary

    async def handoff_queue(self, limit: int = 100) -> list[HandoffSummary]:
        """Conversations waiting for or with a person, oldest first."""
        states = await self.store.list_by(mode="agent", limit=limit)
        out = []
        for state in sorted(states, key=lambda s: s.updated_at):
            summary = await self.handoff_summary(state.session_id)
            out.append(summary)
        return out

    async def pending_approvals(self) -> list[approvals.Approval]:
        return await approvals.pending(self.backoffice.db)

    async def decide_approval(
        self, approval_id: str, *, approve: bool, by: str, note: str | None = None
    ) -> TurnResult | None:
        """A person approves or denies a queued action; the conversation continues with the verified result."""
        await approvals.decide(self.backoffice.db, approval_id, approve=approve, by=by, note=note)
        return await self.approval_decided(approval_id)

    async def approval_decided(self, approval_id: str) -> TurnResult | None:
        """A person decided on a queued action: run it (if approved) and tell the customer."""
        approval = await approvals.get(self.backoffice.db, approval_id)
        if not approval.session_id:
            return None
        async with self._lock(approval.session_id):
            try:
                state = await self._state(approval.session_id)
            except UnknownSession:
                return None
            if state.pending_approval is None or state.pending_approval.approval_id != approval_id:
                return None
            prev = state.revision
            turn = self._new_turn(state)
            turn.saved_revision = prev
            pending = state.pending_approval
            frame = next((f for f in state.intents if f.status == "pending_approval"), None)
            state.pending_approval = None
            if approval.status == "approved" and frame is not None:
                frame.status = "active"
                step = current_step(frame, self.flows)
                turn.say("approval_granted")
                await self.kernel.writes.execute(
                    turn,
                    frame,
                    step,
                    tool=pending.tool,
                    args=pending.arguments,
                    key=pending.idempotency_key,
                    risk=RiskClass.approve,
                    approval_id=approval_id,
                )
                if not turn.asked and state.mode == "bot":
                    await self.kernel.runner.walk(turn)
            else:
                if frame is not None:
                    frame.status = "failed"
                turn.say("approval_denied", note=approval.note or "")
                await self.kernel.runner.walk(turn)
            self._refresh_outcome(state)
            await self._save(turn, turn.saved_revision)
            return self._result(turn)

    # --------------------------------------------------------------- bookkeeping

    def _refresh_outcome(self, state: ConversationState) -> None:
        if state.mode == "agent" or state.outcome == "handed_off":
            state.outcome = "handed_off" if state.mode == "agent" or state.handoff_ticket_id else state.outcome
            return
        if state.pending_approval is not None:
            state.outcome = "pending_approval"
            return
        if state.mode == "closed":
            return
        statuses = [f.status for f in state.intents]
        if any(s in ("active", "paused") for s in statuses) or not statuses:
            state.outcome = "in_progress"
        elif any(s == "failed" for s in statuses):
            state.outcome = "failed"
        elif any(s == "done" for s in statuses):
            state.outcome = "resolved"

    async def _checkpoint(self, turn: TurnContext) -> None:
        await self._save(turn, turn.saved_revision)
        turn.saved_revision = turn.state.revision
        turn.transcript = []
        turn.events = []

    async def _save(self, turn: TurnContext, previous_revision: int | None) -> None:
        state = turn.state
        try:
            await self.store.save(
                state, previous_revision=previous_revision, transcript=turn.transcript, events=turn.events
            )
        except BaseException:
            # What is in memory was not stored: the next turn reads the store again.
            self._states.pop(state.session_id, None)
            raise
        self._remember(state)

    def _remember(self, state: ConversationState) -> None:
        self._states.pop(state.session_id, None)
        self._states[state.session_id] = state
        while len(self._states) > self.config.cached_sessions:
            self._states.pop(next(iter(self._states)))

    async def _state(self, session_id: str) -> ConversationState:
        """The session's state as last saved by this process, else from the store.

        The copy in memory saves a read and a validation per turn; the store's turn-number check on
        save still catches another server having changed the conversation (`StaleState`).
        """
        state = self._states.get(session_id)
        if state is None:
            state = await self.store.load(session_id)
            if state is None:
                raise UnknownSession(session_id)
        return state

    async def _must_load(self, session_id: str) -> ConversationState:
        return await self._state(session_id)

    def _result(self, turn: TurnContext, *, resumed: bool = False) -> TurnResult:
        result = TurnResult(
            session_id=turn.state.session_id,
            messages=turn.messages,
            state=turn.state,
            handoff=turn.handoff,
            ended=turn.ended,
            resumed=resumed,
        )
        for listener in self.listeners:
            listener(turn.state.session_id, result)
        return result
