"""The dialogue engine: one customer turn in, the updated workflow state and the bot's answer out.

Per turn: understand -> global decisions (a person, frustration, repeat, never mind) -> a
pending confirmation or approval -> new requests or slot values -> walk the active workflow
until it needs the customer. Writes happen only after an explicit yes to a read-back, through
governed tools, and are reported only once verified. The state is persisted after every turn
and right before every write, so a crash loses nothing and a resume finishes the write through
its idempotency key.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from actions import approvals
from actions.backoffice import Backoffice
from actions.models import Actor, IdentityLevel, RiskClass, ToolResult, utcnow
from dialogue import identity, outcomes, records
from dialogue.api import BotMessage, CustomerInput, HandoffSummary, TurnResult, UnknownSession
from dialogue.collectors import Accepted, collector_for, set_slot
from dialogue.flows import Flow, Step, load_flows, lookup, resolve_args
from dialogue.forbidden import ForbiddenRequests
from dialogue.handoff import build_summary
from dialogue.knowledge import KnowledgeBase
from dialogue.redact import redact
from dialogue.responses import Responses
from dialogue.state import (
    ActionRecord,
    Channel,
    Choice,
    ConversationState,
    IntentFrame,
    PendingApproval,
    PendingConfirmation,
)
from dialogue.store import SessionStore, StaleState, TranscriptEntry
from dialogue.turn import Turn
from dialogue.understanding.models import (
    Act,
    ItemRef,
    PaymentRef,
    Understander,
    UnderstandingContext,
    VariantRef,
)

# Requests spoken in one breath ("return the keyboard and also change my address").
_SPLIT = re.compile(r"\b(?:and also|also|and then|y también|y además|además)\b", re.IGNORECASE)
_OFFER_HELP = "offer_help"
# Slots whose values are unambiguous enough to accept before they are asked for.
_EARLY_SLOTS = {"reason", "payment_method_id", "address", "item_ids", "order_id"}
_ANYTHING_ELSE = "anything_else"


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
        config: EngineConfig | None = None,
        store: SessionStore | None = None,
        flows: dict[str, Flow] | None = None,
        responses: Responses | None = None,
        knowledge: KnowledgeBase | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.backoffice = backoffice
        self.understander = understander
        self.config = config or EngineConfig()
        self.store = store or SessionStore(backoffice.db)
        self.flows = flows or load_flows()
        self.responses = responses or Responses.load()
        self.knowledge = knowledge or KnowledgeBase.load()
        self.forbidden = ForbiddenRequests.load()
        self.clock = clock
        self.cache: dict[str, Any] = {}
        self._record_cache: dict[str, dict[str, Any]] = {}
        self._states: dict[str, ConversationState] = {}
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.listeners: list[Callable[[str, TurnResult], Any]] = []
        missing = {t for f in self.flows.values() for t in f.tools()} - {t.name for t in backoffice.registry}
        if missing:
            raise ValueError(f"workflows use tools the back office does not have: {', '.join(sorted(missing))}")

    async def open(self) -> DialogueEngine:
        await self.store.open()
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
        turn = Turn(self, state)
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
            turn = Turn(self, state)
            unfinished = [a for a in state.actions if a.stage == "executing"]
            if unfinished:
                await self._finish_unverified(turn, unfinished[-1])
            elif state.mode == "agent":
                turn.say("resume_with_agent")
            elif state.last_prompt:
                turn.add(state.last_prompt, choices=state.choices, expects=state.expects)
            else:
                turn.ask("anything_else", expects=_ANYTHING_ELSE)
            await self._save(turn, prev)
            return self._result(turn, resumed=True)

    async def handle(self, session_id: str, user_input: CustomerInput) -> TurnResult:
        async with self._lock(session_id):
            for attempt in range(2):
                state = await self._state(session_id)
                prev = state.revision
                state.turn += 1
                turn = Turn(self, state, inp=user_input)
                turn.saved_revision = prev
                try:
                    try:
                        await self._turn(turn)
                    except StaleState:
                        raise
                    except Exception as exc:
                        turn.event("error", type(exc).__name__, {"message": str(exc)[:500]})
                        turn.messages.clear()
                        await self._handoff(turn, "internal_error")
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
            turn = Turn(self, state)
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
            turn = Turn(self, state)
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
            turn = Turn(self, state)
            state.mode = "bot"
            state.agent = None
            state.outcome = "in_progress"
            state.not_understood_streak = 0
            state.frustration = 0
            turn.event("agent", "hand_back", {"agent": agent})
            turn.say("back_with_bot")
            turn.ask("anything_else", expects=_ANYTHING_ELSE)
            await self._save(turn, prev)
            return self._result(turn)

    @_again_if_stale
    async def close(self, session_id: str, agent: str) -> TurnResult:
        async with self._lock(session_id):
            state = await self._must_load(session_id)
            prev = state.revision
            turn = Turn(self, state)
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
            turn = Turn(self, state)
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
            turn = Turn(self, state)
            turn.saved_revision = prev
            pending = state.pending_approval
            frame = next((f for f in state.intents if f.status == "pending_approval"), None)
            state.pending_approval = None
            if approval.status == "approved" and frame is not None:
                frame.status = "active"
                step = self.flows[frame.intent].steps[self.flows[frame.intent].index(frame.step)]
                turn.say("approval_granted")
                await self._execute(
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
                    await self._continue(turn)
            else:
                if frame is not None:
                    frame.status = "failed"
                turn.say("approval_denied", note=approval.note or "")
                await self._continue(turn)
            self._refresh_outcome(state)
            await self._save(turn, turn.saved_revision)
            return self._result(turn)

    # ================================================================== the turn

    async def _turn(self, turn: Turn) -> None:
        state = turn.state
        inp = turn.inp
        text = (inp.text or "").strip()
        if inp.choice and not text:
            label = next((c.label for c in state.choices if c.value == inp.choice), inp.choice)
            text = label
        if inp.dtmf and not text:
            text = " ".join(inp.dtmf.strip("#*"))
        turn.transcript.append(
            TranscriptEntry(
                turn=state.turn,
                role="customer",
                text=redact(text, expecting=state.expects),
                language=inp.language or state.language,
                extra={k: v for k, v in {"choice": inp.choice, "dtmf": bool(inp.dtmf)}.items() if v},
            )
        )
        if state.mode == "agent":
            turn.event("agent", "customer_message_for_agent", {})
            return
        if state.mode == "closed":
            state.mode = "bot"
            state.outcome = "in_progress"
        if not text:
            turn.ask("didnt_catch", expects=state.expects, choices=state.choices, prompt=state.last_prompt or "")
            return

        ctx = await self._context(turn)
        started = asyncio.get_running_loop().time()
        u = await self.understander.understand(text, ctx)
        turn.u = u
        turn.event(
            "understanding",
            u.source,
            {
                "language": u.language,
                "intent": u.intent,
                "confidence": round(u.intent_confidence, 3),
                "acts": [a.value for a in u.acts],
                "entities": [{"type": e.type, "confidence": round(e.confidence, 2)} for e in u.entities],
                "sentiment": u.sentiment,
            },
            started=None,
        )
        turn.events[-1].duration_ms = int((asyncio.get_running_loop().time() - started) * 1000)
        self._update_language(turn)
        self._update_mood(turn)

        # ---- decisions that apply whatever else is going on
        if u.has(Act.human) or u.intent == "talk_to_person":
            await self._handoff(turn, "customer_request")
            return
        if u.frustrated and state.frustration >= self.config.frustration_handoff:
            await self._handoff(turn, "frustration")
            return
        if u.has(Act.repeat) and not u.intent and not u.entities:
            turn.used = True
            turn.add(state.last_prompt or turn.text("anything_else"), choices=state.choices, expects=state.expects)
            return
        if u.has(Act.cancel) and not u.intent:
            await self._never_mind(turn)
            return
        forbidden = self.forbidden.match(u.text, state.language)
        if forbidden is not None:
            await self._refuse(turn, forbidden)
            return

        # ---- identity details are welcome at any point
        if (
            state.expects in ("identity", "otp_code")
            or u.first("email")
            or (
                state.identity.level is IdentityLevel.none
                and (u.first("person_name") or u.first("zip"))
                and state.expects not in ("address",)
            )
        ):
            got = await identity.accept(turn)
            if got is not None:
                turn.used = True
            if got is False and identity.too_many_failures(turn):
                await self._handoff(turn, "identity_failed")
                return

        # ---- an action waiting for a yes
        if state.pending_confirmation is not None:
            if await self._answer_confirmation(turn):
                return
        elif state.pending_approval is not None and not u.intent:
            turn.used = True
            turn.say("approval_still_pending", reference=state.pending_approval.approval_id)
            turn.ask("anything_else", expects=_ANYTHING_ELSE)
            return

        if state.expects == _OFFER_HELP and await self._answer_offer(turn):
            return

        # ---- new requests, or values for the active one
        active = state.active
        new_intents = self._new_intents(turn, active)
        if new_intents:
            turn.used = True
            later = await self._more_requests(turn)
            for name in reversed(later):
                state.intents.append(IntentFrame(intent=name, status="paused", started_turn=state.turn))
                turn.event("decision", "queue_intent", {"intent": name, "from": "same_sentence"})
            self._push(turn, new_intents, active)
        elif active is not None:
            await self._fill(turn, active)
        elif u.intent is None or u.intent == "policy_question":
            if await self._small_talk(turn):
                return

        if state.active is not None:
            await self._continue(turn)
        elif not turn.asked and not turn.ended and state.mode == "bot" and turn.used:
            turn.ask("anything_else", expects=_ANYTHING_ELSE)

        if not turn.used and not turn.ended and state.mode == "bot" and not turn.handoff:
            await self._not_understood(turn, already_asked=turn.asked)
        elif turn.used:
            state.not_understood_streak = 0

    # --------------------------------------------------------------- understanding context

    async def _context(self, turn: Turn) -> UnderstandingContext:
        state = turn.state
        frame = state.active
        order_items, variants = [], []
        if frame is not None and frame.data.get("order"):
            order_items = [
                ItemRef(
                    item_id=i["item_id"],
                    name=i["name"],
                    product_id=i["product_id"],
                    options=i["options"],
                    price=i["price"],
                )
                for i in frame.data["order"]["items"]
            ]
        elif state.identity.user_id and state.expects == "order_id":
            for order in (turn.cache.get("orders") or {}).values():
                order_items.extend(
                    ItemRef(item_id=i["item_id"], name=i["name"], product_id=i["product_id"], options=i["options"])
                    for i in order["items"]
                )
        if frame is not None and state.expects in ("new_item_ids", "confirmation", "correction"):
            for v in await self._variant_candidates(turn, frame, every_item=state.expects != "new_item_ids"):
                variants.append(
                    VariantRef(
                        item_id=v["item_id"],
                        product_id=v["product_id"],
                        name=v["name"],
                        options=v["options"],
                        available=v["available"],
                        price=v["price"],
                    )
                )
        payment = [
            PaymentRef(
                id=m["id"],
                source=m["source"],
                brand=m.get("brand"),
                last_four=m.get("last_four"),
                balance=m.get("balance"),
            )
            for m in records.payment_methods(turn.cache.get("user"))
        ]
        return UnderstandingContext(
            language=state.language,
            languages=self.config.languages,
            expects=state.expects,
            active_intent=frame.intent if frame else None,
            choices=[{"label": c.label, "value": c.value} for c in state.choices],
            order_items=order_items,
            variants=variants,
            payment_methods=payment,
            plans=self.cache.get("plan_ids", []),
            products=await records.product_list(turn),
            now=self.clock(),
        )

    async def _variant_candidates(self, turn: Turn, frame: IntentFrame, *, every_item: bool) -> list[dict]:
        """Variants the customer may be choosing: for the item being asked about, or for every item chosen."""
        step = next((s for s in self.flows[frame.intent].steps if s.collect == "new_item_ids"), None)
        if step is None:
            return []
        if not every_item:
            return await collector_for(step).candidates(turn, frame, step)
        lines = {line["item_id"]: line for line in (frame.data.get("order") or {}).get("items", [])}
        out: list[dict] = []
        for item_id in dict.fromkeys(frame.value("item_ids") or []):
            line = lines.get(item_id)
            product = await records.product(turn, line["product_id"]) if line else None
            for v in (product or {}).get("variants", {}).values():
                if v["item_id"] != item_id:
                    out.append(v | {"product_id": line["product_id"], "name": line["name"]})
        return out

    def _update_language(self, turn: Turn) -> None:
        state, u = turn.state, turn.u
        hinted = turn.inp.language if turn.inp.language in self.config.languages else None
        lang = hinted or (u.language if u.language in self.config.languages and u.language_confidence >= 0.6 else None)
        if lang and lang != state.language:
            turn.event("decision", "language_switch", {"from": state.language, "to": lang})
            state.language = lang

    def _update_mood(self, turn: Turn) -> None:
        state, u = turn.state, turn.u
        state.sentiment = round(0.6 * state.sentiment + 0.4 * u.sentiment, 3)
        if u.frustrated:
            state.frustration += 1

    # --------------------------------------------------------------- intents

    def _new_intents(self, turn: Turn, active: IntentFrame | None) -> list[str]:
        u = turn.u
        if u.intent is None or u.intent not in self.flows:
            return []
        if active is not None and u.intent == active.intent:
            return []
        if active is not None and u.intent_confidence < self.config.intent_switch_confidence:
            return []
        strong = u.intent_confidence >= self.config.digression_confidence
        if active is not None and turn.state.expects:
            step = self._current_step(active)
            collector = collector_for(step) if step is not None and step.collect else None
            if collector is not None and hasattr(collector, "recognises") and collector.recognises(turn, step):
                return []  # a plain answer to the question just asked, whatever else it resembles
            if self._answers_expected(turn) and not strong:
                return []
        return [u.intent]

    async def _more_requests(self, turn: Turn) -> list[str]:
        """ "...and also ...": further requests in the rest of the sentence, in the order said."""
        parts = [p for p in _SPLIT.split(turn.u.text) if p.strip()]
        found: list[str] = []
        if len(parts) < 2:
            return found
        ctx = await self._context(turn)
        for part in parts[1:]:
            u = await self.understander.understand(part, ctx)
            if u.intent in self.flows and u.intent != turn.u.intent and u.intent not in found:
                found.append(u.intent)
        return found

    def _answers_expected(self, turn: Turn) -> bool:
        expects = turn.state.expects
        kinds = {
            "order_id": {"order_id", "choice"},
            "item_ids": {"item", "choice"},
            "new_item_ids": {"variant", "option", "choice"},
            "payment_method_id": {"payment_method", "choice"},
            "address": {"address", "zip"},
            "reason": {"cancel_reason", "choice"},
        }.get(expects, set())
        return any(e.type in kinds for e in turn.u.entities) or turn.inp.choice is not None

    def _push(self, turn: Turn, intents: list[str], active: IntentFrame | None) -> None:
        state = turn.state
        if active is not None:
            active.status = "paused"
            state.pending_confirmation = None
            turn.event("decision", "pause_intent", {"intent": active.intent})
        for name in reversed(intents):
            frame = IntentFrame(intent=name, started_turn=state.turn, data={"request_text": turn.u.text})
            state.intents.append(frame)
            turn.event("decision", "start_intent", {"intent": name, "confidence": turn.u.intent_confidence})
        state.expects = None
        if active is not None:
            turn.say("switching_request", previous=turn.text(f"intent_{active.intent}"))

    async def _fill(self, turn: Turn, frame: IntentFrame) -> None:
        step = self._current_step(frame)
        if step is None or not step.collect:
            return
        turn.tried.add(step.id)
        result = await collector_for(step).accept(turn, frame, step)
        if result is not Accepted.nothing:
            turn.used = True
        if result is Accepted.rejected:
            await self._prompt(turn, frame, step)
        if result is Accepted.nothing and turn.inp.choice is None:
            # A value for a later question ("pay with paypal" while listing items): keep it for then.
            flow = self.flows[frame.intent]
            for later in flow.steps[flow.index(step.id) + 1 :]:
                if later.collect in _EARLY_SLOTS and frame.value(later.collect) is None:
                    got = await collector_for(later).accept(turn, frame, later, quiet=True)
                    if got is Accepted.filled:
                        turn.used = True
                        turn.tried.add(later.id)

    def _callback_topic(self, state: ConversationState) -> str:
        others = [f.intent.replace("_", " ") for f in state.intents if f.intent != "schedule_callback"]
        reason = state.context.get("offer_reason") or state.escalation_reason
        topic = "callback requested" + (f" about {', '.join(others)}" if others else "")
        return topic + (f" ({reason.replace('_', ' ')})" if reason else "")

    async def _from_request(self, turn: Turn, frame: IntentFrame, step: Step) -> bool:
        """Read the opening request again now that its records are known ("exchange my keyboard")."""
        request = frame.data.get("request_text")
        tried = frame.data.setdefault("request_tried", [])
        if not request or step.id in tried or step.collect not in ("item_ids", "new_item_ids", "payment_method_id"):
            return False
        tried.append(step.id)
        saved_u, saved_expects = turn.u, turn.state.expects
        turn.state.expects = step.collect
        try:
            turn.u = await self.understander.understand(request, await self._context(turn))
            result = await collector_for(step).accept(turn, frame, step, quiet=True)
        finally:
            turn.u, turn.state.expects = saved_u, saved_expects
        if result is not Accepted.nothing:
            turn.event("decision", "from_request", {"slot": step.collect, "result": result.value})
        return result is Accepted.filled

    async def _prefill(self, turn: Turn, frame: IntentFrame) -> None:
        """Values given together with the request ("cancel #W123, I ordered it by mistake")."""
        flow = self.flows[frame.intent]
        for step in flow.steps:
            if (
                step.collect
                and frame.value(step.collect) is None
                and step.collect
                in (
                    "order_id",
                    "reason",
                    "address",
                    "product_id",
                )
            ):
                if step.collect == "address" and not turn.u.first("address"):
                    continue
                await collector_for(step).accept(turn, frame, step, quiet=True)

    # --------------------------------------------------------------- walking a workflow

    def _current_step(self, frame: IntentFrame) -> Step | None:
        flow = self.flows[frame.intent]
        index = flow.index(frame.step)
        return flow.steps[index] if index < len(flow.steps) else None

    async def _continue(self, turn: Turn) -> None:
        """Walk the active workflow until it needs the customer; then move to the next open request."""
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
                    turn.ask("anything_else", expects=_ANYTHING_ELSE)
                return
            if frame.step is None and not frame.data.get("_started"):
                frame.data["_started"] = True
                if frame.intent == "schedule_callback":
                    frame.data.setdefault("topic", self._callback_topic(state))
                await self._prefill(turn, frame)
            if await self._run(turn, frame):
                return

    async def _run(self, turn: Turn, frame: IntentFrame) -> bool:
        """Advance `frame`. True when the turn must stop here (a question was asked or a person joined)."""
        state = turn.state
        flow = self.flows[frame.intent]
        for _ in range(len(flow.steps) * 3 + 5):
            if frame.status != "active":
                return turn.asked or bool(turn.handoff)
            if not state.identity.level.at_least(flow.identity):
                if state.expects in ("identity", "otp_code") and turn.asked:
                    return True
                if identity.too_many_failures(turn):
                    await self._handoff(turn, "identity_failed")
                    return True
                if not await identity.prompt(turn, flow.identity):
                    frame.status = "failed"
                    await self._handoff(turn, "identity_failed")
                    return True
                return True
            index = flow.index(frame.step)
            if index >= len(flow.steps):
                frame.status = "done"
                turn.event("decision", "intent_done", {"intent": frame.intent})
                return False
            step = flow.steps[index]
            frame.step = step.id
            if step.when is not None and not step.when.holds(lookup(step.when.path, frame, state)):
                self._next(frame, flow)
                continue
            kind = step.kind
            if kind == "collect":
                collector = collector_for(step)
                if collector.done(frame, step):
                    self._next(frame, flow)
                    continue
                if turn.asked:
                    return True
                if (
                    turn.u is not None
                    and turn.inp.choice is None
                    and step.id not in turn.tried
                    and (step.collect in _EARLY_SLOTS)
                ):
                    # Reached in the same turn: the customer's words may already answer it.
                    turn.tried.add(step.id)
                    if await collector.accept(turn, frame, step, quiet=True) is Accepted.filled:
                        continue
                if await self._from_request(turn, frame, step) or await collector.autofill(turn, frame, step):
                    continue
                if not await self._prompt(turn, frame, step):
                    frame.status = "failed"
                    return False
                return True
            if kind == "call":
                if not await self._call(turn, frame, step, flow) and (turn.asked or turn.handoff):
                    return True
                continue
            if kind == "require":
                value = lookup(step.require.path, frame, state)
                if step.require.holds(value):
                    self._next(frame, flow)
                    continue
                turn.event("decision", "requirement_failed", {"step": step.id, "value": value})
                if await self._otherwise(turn, frame, step, flow):
                    return True
                continue
            if kind == "say":
                turn.add(outcomes.say(turn, frame, step.say))
                self._next(frame, flow)
                continue
            if kind == "handoff":
                await self._handoff(turn, step.handoff)
                return True
            if kind == "confirm":
                if turn.asked:
                    return True
                return await self._ask_confirmation(turn, frame, step, flow)
        raise RuntimeError(f"workflow {flow.name} did not settle")

    def _next(self, frame: IntentFrame, flow: Flow) -> None:
        index = flow.index(frame.step) + 1
        frame.step = flow.steps[index].id if index < len(flow.steps) else "__end__"

    async def _prompt(self, turn: Turn, frame: IntentFrame, step: Step) -> bool:
        return await collector_for(step).prompt(turn, frame, step)

    async def _call(self, turn: Turn, frame: IntentFrame, step: Step, flow: Flow) -> bool:
        args = resolve_args(step.args, frame, turn.state)
        result = await turn.tool(step.call, args)
        if result.ok:
            output = result.output or {}
            key = step.save or step.call
            if "order" in output and isinstance(output["order"], dict):
                order = output["order"]
                frame.data[key] = order
                frame.data[f"{key}_version"] = output.get("version")
                history = order.get("payment_history", [])
                order["single_payment"] = len(history) == 1 and history[0]["transaction_type"] == "payment"
            elif len(output) == 1:
                frame.data[key] = next(iter(output.values()))
            else:
                frame.data[key] = output
            self._next(frame, flow)
            return True
        code = result.error.code if result.error else ""
        if code in ("not_owner", "not_found", "order_not_found") and "order_id" in args:
            turn.say("order_not_on_account", order_id=args.get("order_id", ""))
            collect = next((s for s in flow.steps if s.collect and s.collect in args), None)
            if collect is not None:
                frame.slots.pop(collect.collect, None)
                frame.step = collect.id
            return False
        if result.status in ("unavailable", "failed"):
            await self._system_down(turn, frame, result)
            return False
        if step.otherwise is not None:
            await self._otherwise(turn, frame, step, flow)
            return False
        turn.say("lookup_failed")
        frame.status = "failed"
        return False

    async def _otherwise(self, turn: Turn, frame: IntentFrame, step: Step, flow: Flow) -> bool:
        other = step.otherwise
        if other is None:
            frame.status = "failed"
            return False
        if other.say:
            turn.add(outcomes.say(turn, frame, other.say))
        for name in other.clear:
            frame.slots.pop(name, None)
            frame.data.pop(name, None)
        if other.handoff:
            await self._handoff(turn, other.handoff)
            return True
        if other.end:
            frame.status = "failed" if other.end == "failed" else ("done" if other.end == "resolved" else "cancelled")
            return False
        if other.goto:
            frame.step = other.goto
        return False

    # --------------------------------------------------------------- confirmation and execution

    async def _ask_confirmation(self, turn: Turn, frame: IntentFrame, step: Step, flow: Flow) -> bool:
        state = turn.state
        args = resolve_args(step.args, frame, state)
        spec = self.backoffice.registry.get(step.confirm)
        try:
            risk = spec.risk_for(spec.input.model_validate(args), self.backoffice.policy)
        except Exception as exc:
            turn.event("decision", "invalid_action_args", {"tool": step.confirm, "error": str(exc)[:300]})
            turn.say("lookup_failed")
            frame.status = "failed"
            return False
        if risk is RiskClass.forbidden:
            turn.say("forbidden_action")
            await self._offer_help(turn, "forbidden")
            frame.status = "failed"
            return True
        await outcomes.prepare_readback(turn, frame, step, args)
        readback = outcomes.readback(turn, frame, step, args)
        key = f"{state.session_id}:{len(state.intents) - 1}:{step.id}:{state.turn}"
        state.pending_confirmation = PendingConfirmation(
            tool=step.confirm, arguments=args, readback=readback, idempotency_key=key, risk=risk, asked_turn=state.turn
        )
        state.risk = risk
        turn.event("decision", "confirmation_requested", {"tool": step.confirm, "risk": risk.value})
        yes_no = [Choice(label=turn.text("label_yes"), value="yes"), Choice(label=turn.text("label_no"), value="no")]
        turn.add(readback + " " + turn.text("ask_confirm"), choices=yes_no, expects="confirmation", readback=True)
        state.expects = "confirmation"
        state.choices = yes_no
        state.last_prompt = readback + " " + turn.text("ask_confirm")
        turn.asked = True
        return True

    async def _answer_confirmation(self, turn: Turn) -> bool:
        """Handle the customer's answer to a read-back. True when the turn is complete."""
        state, u = turn.state, turn.u
        pending = state.pending_confirmation
        frame = state.active
        yes = turn.inp.choice == "yes" or (u.has(Act.affirm) and not u.has(Act.deny))
        no = turn.inp.choice == "no" or u.has(Act.deny)
        if frame is None:
            state.pending_confirmation = None
            return False
        flow = self.flows[frame.intent]
        step = next((s for s in flow.steps if s.confirm == pending.tool), None) or self._current_step(frame)
        if yes and not no and not u.has(Act.correction):
            turn.used = True
            turn.event("decision", "confirmed", {"tool": pending.tool})
            state.pending_confirmation = None
            if pending.risk is RiskClass.approve:
                await self._request_approval(turn, frame, pending)
            else:
                await self._execute(
                    turn,
                    frame,
                    step,
                    tool=pending.tool,
                    args=pending.arguments,
                    key=pending.idempotency_key,
                    risk=pending.risk,
                )
            if not turn.asked and not turn.handoff and state.mode == "bot":
                await self._continue(turn)
            return True
        if u.intent and u.intent != frame.intent and u.intent in self.flows and u.intent_confidence >= 0.7:
            return False  # a different request: handled as a digression; the read-back is asked again later
        # A correction ("no, the blue one") or a plain no: change what they say, then read back again.
        before = {k: s.value for k, s in frame.slots.items()}
        step_before = frame.step
        if u.entities or turn.inp.choice not in (None, "yes", "no"):
            await self._apply_correction(turn, frame)
        changed = {k: s.value for k, s in frame.slots.items()} != before
        if not changed:
            frame.step = step_before
        state.pending_confirmation = None
        turn.used = True
        if changed:
            turn.event("decision", "corrected", {"tool": pending.tool})
            await self._continue(turn)
            return True
        if no:
            turn.event("decision", "declined", {"tool": pending.tool})
            turn.say("nothing_changed")
            turn.ask(
                "ask_what_to_change",
                expects="correction",
                choices=[Choice(label=turn.text("label_never_mind"), value="__cancel__")],
            )
            state.context["awaiting_correction"] = pending.model_dump(mode="json")
            return True
        turn.say("need_yes_or_no")
        state.pending_confirmation = pending
        turn.add(
            pending.readback + " " + turn.text("ask_confirm"),
            choices=state.choices,
            expects="confirmation",
            readback=True,
        )
        turn.asked = True
        return True

    async def _apply_correction(self, turn: Turn, frame: IntentFrame) -> None:
        """Re-open the slots the customer's words address and accept the new values."""
        flow = self.flows[frame.intent]
        u = turn.u
        types = {e.type for e in u.entities}
        targets = {
            "payment_method_id": {"payment_method"},
            "address": {"address", "zip"},
            "reason": {"cancel_reason"},
            "new_item_ids": {"variant", "option"},
            "item_ids": {"item"},
            "order_id": {"order_id"},
        }
        for step in flow.steps:
            if step.collect and targets.get(step.collect, set()) & types:
                old = frame.slots.pop(step.collect, None)
                if step.collect == "address":
                    frame.data["address_partial"] = dict(old.value) if old else {}
                if step.collect == "new_item_ids":
                    frame.slots.pop("new_item_ids", None)
                result = await collector_for(step).accept(turn, frame, step)
                if result is not Accepted.filled and old is not None and step.collect != "new_item_ids":
                    frame.slots[step.collect] = old
        frame.step = None if frame.step == "__end__" else frame.step
        # Walk again from the first step so every later step re-checks with the new values.
        frame.step = flow.steps[0].id

    async def _correct_variants(self, turn: Turn, frame: IntentFrame) -> None:
        """ "No, the blue one": swap the new variant of the item of that product, keep the others."""
        old_ids = list(frame.value("item_ids") or [])
        new_ids = list(frame.value("new_item_ids") or [])
        if not old_ids or len(new_ids) != len(old_ids):
            return
        candidates = await self._variant_candidates(turn, frame, every_item=True)
        by_id = {v["item_id"]: v for v in candidates}
        lines = {line["item_id"]: line for line in (frame.data.get("order") or {}).get("items", [])}
        picks = [
            str(e.value)
            for e in turn.u.all("variant")
            if e.value in by_id and e.confidence >= 0.5 and by_id[e.value]["available"]
        ]
        if not picks and len({lines[i]["product_id"] for i in old_ids if i in lines}) == 1:
            wanted = {str(e.value.get("value", "")).lower() for e in turn.u.all("option") if isinstance(e.value, dict)}
            fits = [
                v
                for v in candidates
                if v["available"] and wanted and wanted <= {str(x).lower() for x in v["options"].values()}
            ]
            if len(fits) == 1:
                picks = [fits[0]["item_id"]]
        for pick in picks:
            variant = by_id[pick]
            for index, old in enumerate(old_ids):
                if lines.get(old, {}).get("product_id") == variant["product_id"]:
                    new_ids[index] = variant["item_id"]
                    break
        if new_ids != frame.value("new_item_ids"):
            set_slot(turn, frame, "new_item_ids", new_ids)

    async def _execute(
        self,
        turn: Turn,
        frame: IntentFrame,
        step: Step,
        *,
        tool: str,
        args: dict,
        key: str,
        risk: RiskClass,
        approval_id: str | None = None,
    ) -> ToolResult:
        state = turn.state
        record = ActionRecord(
            tool=tool,
            arguments=args,
            idempotency_key=key,
            stage="executing",
            status="executing",
            risk=risk,
            write=True,
            turn=state.turn,
        )
        state.actions.append(record)
        # Persist before writing: a crash from here on is finished on resume with the same key.
        await self._checkpoint(turn)
        result = await turn.tool(tool, args, confirmed=True, key=key, approval_id=approval_id)
        self._record(record, result)
        records.forget_after_write(turn)
        await outcomes.report(self, turn, frame, step, result, args)
        return result

    def _record(self, record: ActionRecord, result: ToolResult) -> None:
        record.stage = "done"
        record.status = result.status
        record.verified = result.verified
        record.duration_ms = result.duration_ms
        record.systems = result.systems
        record.steps = [s.model_dump(mode="json") for s in result.steps]
        record.error = result.error.model_dump(mode="json") if result.error else None
        if result.verification is not None:
            record.confirmation_id = result.verification.confirmation_id
            record.evidence = result.verification.evidence
            record.checks = result.verification.checks

    async def _finish_unverified(self, turn: Turn, record: ActionRecord) -> None:
        """Resume after a crash between a confirmed write and its verification."""
        state = turn.state
        frame = state.active or next((f for f in reversed(state.intents) if f.status != "done"), None)
        turn.event("decision", "resume_unfinished_write", {"tool": record.tool})
        result = await turn.tool(record.tool, record.arguments, confirmed=True, key=record.idempotency_key)
        self._record(record, result)
        records.forget_after_write(turn)
        if frame is None:
            return
        frame.status = "active"
        step = self._current_step(frame) or self.flows[frame.intent].steps[-1]
        turn.say("resuming_after_interruption")
        await outcomes.report(self, turn, frame, step, result, record.arguments)
        if not turn.asked and not turn.handoff:
            await self._continue(turn)

    async def _request_approval(self, turn: Turn, frame: IntentFrame, pending: PendingConfirmation) -> None:
        state = turn.state
        approval = await approvals.request(
            self.backoffice.db,
            pending.tool,
            self.backoffice.registry.get(pending.tool).input.model_validate(pending.arguments).model_dump(mode="json"),
            reason=outcomes.approval_reason(turn, pending),
            requested_by=turn.actor().model_dump(mode="json"),
            session_id=state.session_id,
        )
        state.pending_approval = PendingApproval(
            approval_id=approval.approval_id,
            tool=pending.tool,
            arguments=approval.arguments,
            idempotency_key=pending.idempotency_key,
            reason=approval.reason,
            requested_turn=state.turn,
        )
        frame.status = "pending_approval"
        turn.event("decision", "approval_requested", {"tool": pending.tool, "approval_id": approval.approval_id})
        turn.say("approval_requested", reference=approval.approval_id)
        turn.ask("anything_else", expects=_ANYTHING_ELSE)

    # --------------------------------------------------------------- the rest of the decisions

    async def _refuse(self, turn: Turn, tool: str) -> None:
        """A request Frontdesk may never carry out: the registry refuses it, the customer hears why."""
        turn.used = True
        result = await turn.tool(tool, {})
        turn.event("decision", "forbidden_request", {"tool": tool, "status": result.status})
        turn.say("forbidden_action")
        await self._offer_help(turn, "forbidden")

    async def _never_mind(self, turn: Turn) -> None:
        state = turn.state
        turn.used = True
        frame = state.active
        state.pending_confirmation = None
        if frame is not None:
            frame.status = "cancelled"
            turn.event("decision", "cancel_intent", {"intent": frame.intent})
            turn.say("cancelled_request")
        else:
            turn.say("ok_nothing_to_stop")
        await self._continue(turn)

    async def _small_talk(self, turn: Turn) -> bool:
        """Greetings, thanks, goodbyes, help and policy questions. True when the turn is complete."""
        state, u = turn.state, turn.u
        if u.intent == "policy_question" or (u.intent is None and not u.acts):
            answer = self.knowledge.answer(u.text, state.language)
            if answer is not None:
                turn.used = True
                turn.event("decision", "knowledge_answer", {"entry": answer.id})
                turn.add(answer.text)
                turn.ask("anything_else", expects=_ANYTHING_ELSE)
                return True
            if u.intent == "policy_question":
                turn.used = True
                turn.say("no_policy_answer")
                await self._offer_help(turn, "no_policy_answer")
                return True
        if (
            u.has(Act.goodbye)
            or (u.has(Act.thanks) and state.expects == _ANYTHING_ELSE)
            or (state.expects == _ANYTHING_ELSE and (u.has(Act.deny) or u.has(Act.done)))
        ):
            turn.used = True
            turn.say("goodbye")
            turn.ended = True
            state.mode = "closed"
            state.expects = None
            if state.outcome == "in_progress":
                state.outcome = "resolved" if any(f.status == "done" for f in state.intents) else "abandoned"
            return True
        if u.has(Act.thanks):
            turn.used = True
            turn.say("you_are_welcome")
            turn.ask("anything_else", expects=_ANYTHING_ELSE)
            return True
        if u.has(Act.greet) or u.has(Act.help) or (state.expects == _ANYTHING_ELSE and u.has(Act.affirm)):
            turn.used = True
            turn.ask("how_can_i_help", expects=None)
            return True
        return False

    async def _not_understood(self, turn: Turn, *, already_asked: bool = False) -> None:
        state = turn.state
        state.not_understood_streak += 1
        turn.event("decision", "not_understood", {"streak": state.not_understood_streak})
        if state.not_understood_streak >= self.config.max_not_understood:
            turn.messages = [m for m in turn.messages if m.role != "bot" or m.readback]
            await self._handoff(turn, "not_understood")
            return
        if already_asked:
            # The question was asked again: say first that the answer was not usable.
            asked = next((m for m in reversed(turn.messages) if m.role == "bot"), None)
            if asked is not None:
                asked.text = f"{turn.text('sorry_not_understood')} {asked.text}"
                state.last_prompt = asked.text
            return
        prompt = state.last_prompt if state.expects else turn.text("how_can_i_help")
        turn.ask("not_understood", expects=state.expects, choices=state.choices, prompt=prompt)

    async def _system_down(self, turn: Turn, frame: IntentFrame, result: ToolResult) -> None:
        system = (result.error.details or {}).get("system") if result.error else None
        system = system or (result.systems[0] if result.systems else "")
        frame.status = "failed"
        state = turn.state
        state.escalation_reason = "system_unavailable"
        turn.event("decision", "system_unavailable", {"tool": result.tool, "system": system})
        turn.say("system_down", system=turn.text(f"system_{system}") if system else "")
        await self._offer_help(turn, "system_unavailable")

    async def _offer_help(self, turn: Turn, why: str) -> None:
        turn.state.context["offer_reason"] = why
        turn.ask(
            "offer_callback_or_person",
            expects=_OFFER_HELP,
            choices=[
                Choice(label=turn.text("label_callback"), value="callback"),
                Choice(label=turn.text("label_person"), value="person"),
                Choice(label=turn.text("label_no_thanks"), value="no"),
            ],
        )

    async def _answer_offer(self, turn: Turn) -> bool:
        u, state = turn.u, turn.state
        choice = turn.inp.choice or (str(u.first("choice").value) if u.first("choice") else None)
        if choice == "person" or u.has(Act.human):
            await self._handoff(turn, state.context.get("offer_reason") or "customer_request")
            return True
        if choice == "callback" or u.intent == "schedule_callback":
            turn.used = True
            if "schedule_callback" in self.flows:
                state.intents.append(IntentFrame(intent="schedule_callback", started_turn=state.turn))
                await self._continue(turn)
            else:
                await self._handoff(turn, state.context.get("offer_reason") or "customer_request")
            return True
        if choice == "no" or u.has(Act.deny) or u.has(Act.done):
            turn.used = True
            turn.ask("anything_else", expects=_ANYTHING_ELSE)
            return True
        return False

    async def _handoff(self, turn: Turn, reason: str) -> None:
        state = turn.state
        turn.used = True
        state.escalation_reason = reason
        state.pending_confirmation = None
        for frame in state.intents:
            if frame.status in ("active", "paused"):
                frame.status = "handed_off"
        history = await self.store.transcript(state.session_id)
        summary = build_summary(state, [*history, *turn.transcript], reason, self.flows)
        result = await turn.tool(
            "create_handoff_ticket",
            {
                "session_id": state.session_id,
                "reason": reason,
                "summary": summary.model_dump(mode="json"),
                "user_id": state.identity.user_id,
                "channel": state.channel,
                "priority": "high" if reason in ("frustration", "verification_failed", "system_failure") else "normal",
            },
            actor=Actor.system("dialogue"),
        )
        if result.ok:
            summary.ticket_id = (result.output or {}).get("ticket_id")
            state.handoff_ticket_id = summary.ticket_id
        turn.event(
            "decision", "handoff", {"reason": reason, "ticket": summary.ticket_id, "ticket_status": result.status}
        )
        state.mode = "agent"
        state.outcome = "handed_off"
        state.expects = None
        state.choices = []
        turn.handoff = summary
        turn.say(f"handoff_{reason}" if self.responses.has(f"handoff_{reason}", state.language) else "handoff_generic")
        turn.say("handoff_what_they_know", known=outcomes.what_they_know(turn, summary))
        turn.asked = True

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

    async def _checkpoint(self, turn: Turn) -> None:
        await self._save(turn, turn.saved_revision)
        turn.saved_revision = turn.state.revision
        turn.transcript = []
        turn.events = []

    async def _save(self, turn: Turn, previous_revision: int | None) -> None:
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

    def _result(self, turn: Turn, *, resumed: bool = False) -> TurnResult:
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
