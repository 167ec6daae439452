"""One customer turn: understand, turn it into commands, execute them, walk the flows.

The order is fixed and deterministic: a person asked for, frustration, repeat, never mind, a
request Frontdesk may not carry out; then identity details (welcome at any point); then a
read-back or an approval waiting; then an offer's answer; then a new request or values for the
one in progress, or a question or small talk; then the flows walk until one needs the customer.
A turn nothing could be used from is not understood (a person after two in a row).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from dialogue.api import CustomerInput
from dialogue.kernel.collectors import Accepted, Collector
from dialogue.kernel.commands import (
    Affirm,
    AnswerOption,
    AskQuestion,
    CancelFlow,
    CannotHandle,
    ChitChat,
    Clarify,
    Command,
    CorrectSlots,
    Deny,
    HumanHandoff,
    ProvideIdentity,
    RefuseRequest,
    Repeat,
    SetSlots,
    StartFlow,
)
from dialogue.kernel.context import TurnContext
from dialogue.kernel.evidence import Evidence
from dialogue.kernel.pack import DomainPack
from dialogue.kernel.ports import Ports
from dialogue.kernel.repair import RepairFlows
from dialogue.kernel.runner import FlowRunner, current_step
from dialogue.kernel.steps.collect import CollectStep
from dialogue.kernel.values import lookup
from dialogue.kernel.writes import Writes
from dialogue.knowledge import KnowledgeBase
from dialogue.redact import redact
from dialogue.state import Choice, IntentFrame
from dialogue.store import TranscriptEntry
from dialogue.understanding.commands import CommandGenerator, ConversationView, OptionView
from dialogue.understanding.models import Act, Understander, UnderstandingContext

_NO_STREAK_FRUSTRATION = 3  # "no" said this many turns in a row
CHIT_CHAT = {"goodbye": "goodbye", "thanks": "thanks", "greet": "how_can_i_help", "help": "how_can_i_help"}


class KernelConfig(BaseModel):
    languages: tuple[str, ...] = ("en", "es")
    max_not_understood: int = 2
    frustration_handoff: int = 2
    intent_switch_confidence: float = 0.55
    # A request this clear starts a new flow even while answering the current question
    # ("wait, first where is my order W123").
    digression_confidence: float = 0.9


class Kernel:
    def __init__(
        self,
        *,
        pack: DomainPack,
        ports: Ports,
        repair: RepairFlows,
        runner: FlowRunner,
        writes: Writes,
        understander: Understander,
        generator: CommandGenerator,
        knowledge: KnowledgeBase,
        config: KernelConfig,
        clock: Callable[[], datetime],
    ) -> None:
        self.pack = pack
        self.ports = ports
        self.repair = repair
        self.runner = runner
        self.writes = writes
        self.understander = understander
        self.generator = generator
        self.knowledge = knowledge
        self.config = config
        self.clock = clock

    # ------------------------------------------------------------------ understanding

    async def context(self, turn: TurnContext) -> UnderstandingContext:
        state = turn.state
        frame = state.active
        return UnderstandingContext(
            language=state.language,
            languages=self.config.languages,
            expects=state.expects,
            expected=self.ports.catalog.expected(state.expects),
            active_intent=frame.intent if frame else None,
            choices=[{"label": c.label, "value": c.value} for c in state.choices],
            candidates=await self.pack.candidates(turn),
            now=self.clock(),
        )

    def _question(self, turn: TurnContext) -> tuple[CollectStep | None, Collector | None]:
        frame = turn.state.active
        step = current_step(frame, self.ports.flows) if frame is not None else None
        if not isinstance(step, CollectStep):
            return None, None
        return step, self.ports.collector_for(step)

    def view(self, turn: TurnContext) -> ConversationView:
        state = turn.state
        step, collector = self._question(turn)
        options = {
            value: OptionView(link=o.link, acts=list(o.acts)) for value, o in self.repair.options(state.expects).items()
        }
        return ConversationView(
            language=state.language,
            expects=state.expects,
            active_flow=state.active.intent if state.active else None,
            flows=frozenset(self.ports.flows),
            pending_confirmation=state.pending_confirmation is not None,
            pending_approval=state.pending_approval is not None,
            identity_level=state.identity.level,
            answer_types=frozenset(self.ports.catalog.answer_types(state.expects)),
            question_options=frozenset(collector.options(step)) if step and collector else frozenset(),
            keywords=collector.keywords(step) if step and collector else {},
            options=options,
            choices=[c.value for c in state.choices],
            intent_switch_confidence=self.config.intent_switch_confidence,
            digression_confidence=self.config.digression_confidence,
            what_if={request: f.name for f in self.ports.flows.values() for request in f.answers_what_if},
        )

    async def reread(self, turn: TurnContext, text: str, expects: str) -> Evidence:
        """The opening words read again as the answer to `expects` (the caller has set it on the state)."""
        u = await self.understander.understand(text, await self.context(turn))
        return self.generator.evidence(u, CustomerInput(choice=turn.inp.choice, dtmf=turn.inp.dtmf), self.view(turn))

    # ------------------------------------------------------------------ the turn

    async def turn(self, turn: TurnContext) -> None:
        state, inp = turn.state, turn.inp
        text = (inp.text or "").strip()
        if inp.choice and not text:
            text = next((c.label for c in state.choices if c.value == inp.choice), inp.choice)
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
            await self.repair.run(turn, "didnt_catch", {"prompt": state.last_prompt or ""})
            return

        ctx = await self.context(turn)
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
        )
        turn.events[-1].duration_ms = int((asyncio.get_running_loop().time() - started) * 1000)
        self._update_language(turn)
        self._update_mood(turn)
        commands, turn.evidence = await self.generator.commands(u, inp, self.view(turn), ctx)
        turn.event("commands", "understood", {"commands": [type(c).__name__ for c in commands]})
        await self.execute(turn, commands)

    async def execute(self, turn: TurnContext, commands: list[Command]) -> None:
        state = turn.state
        first = commands[0] if commands else None
        if isinstance(first, HumanHandoff):
            await self.repair.hand_off(turn, first.reason)
            return
        if turn.u is not None and turn.u.frustrated and state.frustration >= self.config.frustration_handoff:
            await self.repair.hand_off(turn, "frustration")
            return
        if isinstance(first, Repeat):
            await self.repair.run(turn, "repeat")
            return
        if isinstance(first, CancelFlow):
            await self.repair.run(turn, "cancel_request")
            await self.runner.walk(turn)
            return
        if isinstance(first, RefuseRequest):
            await self.repair.run(turn, "refusal", {"tool": first.tool})
            return

        if any(isinstance(c, ProvideIdentity) for c in commands):
            got = await self.pack.identity.accept(turn)
            if got is not None:
                turn.used = True
            if got is False and self.pack.identity.too_many_failures(turn):
                await self.repair.hand_off(turn, "identity_failed")
                return

        if state.pending_confirmation is not None:
            if state.active is None:
                state.pending_confirmation = None
            elif any(isinstance(c, Affirm) for c in commands):
                await self.writes.affirmed(turn)
                return
            elif any(isinstance(c, CorrectSlots | Deny) or _not_yes_or_no(c) for c in commands):
                await self.writes.not_affirmed(turn, commands)
                return
        elif state.pending_approval is not None and not turn.evidence.has_request:
            turn.used = True
            await self.repair.run(turn, "waiting_for_approval", {"reference": state.pending_approval.approval_id})
            return

        option = next((c for c in commands if isinstance(c, AnswerOption)), None)
        if option is not None:
            await self._option(turn, option.value)
            return

        for command in commands:
            if isinstance(command, StartFlow):
                turn.used = True
                for name in reversed(command.then):
                    state.intents.append(IntentFrame(intent=name, status="paused", started_turn=state.turn))
                    turn.event("decision", "queue_intent", {"intent": name, "from": "same_sentence"})
                self._push(turn, command)
            elif isinstance(command, SetSlots) and state.active is not None:
                await self._fill(turn, state.active)
            elif isinstance(command, AskQuestion):
                if await self._question_answered(turn, command):
                    return
            elif isinstance(command, ChitChat):
                turn.used = True
                await self.repair.run(turn, CHIT_CHAT[command.kind])
                return
            elif isinstance(command, CannotHandle) and command.reason in self.repair.patterns:
                # A reason with its own repair flow ("out_of_scope", "complaint") is answered by it.
                turn.used = True
                await self.repair.run(turn, command.reason)
                return
            elif isinstance(command, Clarify):
                turn.used = True
                choices = [Choice(label=turn.text(f"intent_{f}"), value=f) for f in command.flows]
                await self.repair.run(turn, "clarification", {"choices": choices})
                return

        if state.active is not None:
            await self.runner.walk(turn)
        elif not turn.asked and not turn.ended and state.mode == "bot" and turn.used:
            # Nothing asked for yet (only who they are): "anything else?" would be odd.
            await self.repair.run(turn, "completed" if state.intents else "how_can_i_help")

        if not turn.used and not turn.ended and state.mode == "bot" and not turn.handoff:
            await self._not_understood(turn)
        elif turn.used:
            state.not_understood_streak = 0

    # ------------------------------------------------------------------ parts

    def _update_language(self, turn: TurnContext) -> None:
        state, u = turn.state, turn.u
        assert u is not None
        hinted = turn.inp.language if turn.inp.language in self.config.languages else None
        lang = hinted or (u.language if u.language in self.config.languages and u.language_confidence >= 0.6 else None)
        if lang and lang != state.language:
            turn.event("decision", "language_switch", {"from": state.language, "to": lang})
            state.language = lang

    def _update_mood(self, turn: TurnContext) -> None:
        state, u = turn.state, turn.u
        assert u is not None
        state.sentiment = round(0.6 * state.sentiment + 0.4 * u.sentiment, 3)
        bare_no = u.has(Act.deny) and not u.has(Act.affirm) and not u.intent
        state.no_streak = state.no_streak + 1 if bare_no else 0
        if u.frustrated or state.no_streak == _NO_STREAK_FRUSTRATION:
            state.frustration += 1

    def _push(self, turn: TurnContext, command: StartFlow) -> None:
        state = turn.state
        active = state.active
        if active is not None:
            active.status = "cancelled" if command.instead else "paused"
            state.pending_confirmation = None
            turn.event("decision", "drop_intent" if command.instead else "pause_intent", {"intent": active.intent})
        request_text = turn.u.text if turn.u is not None else None
        frame = IntentFrame(intent=command.flow, started_turn=state.turn, request_text=request_text)
        if active is not None and command.same_record:
            for name in self._shared_slots(active.intent, command.flow):
                if name in active.slots:
                    frame.slots[name] = active.slots[name].model_copy()
        state.intents.append(frame)
        turn.event("decision", "start_intent", {"intent": command.flow, "confidence": command.confidence})
        state.expects = None
        if active is not None:
            key = "dropping_request" if command.instead else "switching_request"
            turn.say(key, previous=turn.text(f"intent_{active.intent}"))

    def _shared_slots(self, first: str, second: str) -> list[str]:
        """The slots two flows both collect first (which order the request is about, ...)."""

        def collected(name: str) -> list[str]:
            flow = self.ports.flows.get(name)
            return [s.collect for s in flow.steps if isinstance(s, CollectStep)][:1] if flow else []

        return [slot for slot in collected(first) if slot in collected(second)]

    async def _fill(self, turn: TurnContext, frame: IntentFrame) -> None:
        step = current_step(frame, self.ports.flows)
        if not isinstance(step, CollectStep):
            return
        turn.tried.add(step.id)
        collector = self.ports.collector_for(step)
        result = await collector.accept(turn, frame, step)
        if result is not Accepted.nothing:
            turn.used = True
        if result is Accepted.rejected:
            await collector.prompt(turn, frame, step)
        if result is Accepted.nothing and turn.evidence.choice is None:
            # A value for a later question ("pay with paypal" while listing items): keep it for then.
            flow = self.ports.flows[frame.intent]
            for later in flow.steps[flow.index(step.id) + 1 :]:
                if not isinstance(later, CollectStep) or frame.value(later.collect) is not None:
                    continue
                spec = self.ports.catalog.get(later.collect)
                if spec is not None and spec.early:
                    got = await self.ports.collector_for(later).accept(turn, frame, later, quiet=True)
                    if got is Accepted.filled:
                        turn.used = True
                        turn.tried.add(later.id)

    async def _question_answered(self, turn: TurnContext, question: AskQuestion) -> bool:
        # Embedding the question takes milliseconds of CPU outside the interpreter: other turns go on.
        answer = await asyncio.to_thread(self.knowledge.answer, question.text, turn.state.language)
        if answer is not None:
            turn.used = True
            turn.event("decision", "knowledge_answer", {"entry": answer.id})
            await self.repair.run(turn, "knowledge_answer", {"answer": answer.text})
            return True
        if question.certain:
            turn.used = True
            # Kept for the knowledge-gap review: what was asked that nothing answers.
            turn.event("decision", "unanswered_question", {"text": question.text, "topic": question.topic})
            await self.repair.run(turn, "no_policy_answer")
            return True
        return False

    async def _option(self, turn: TurnContext, value: str) -> None:
        state = turn.state
        option = self.repair.option(state.expects, value)
        if option is None:
            return
        reason = _value(option.handoff, turn) or "customer_request" if option.handoff else None
        if option.link is not None:
            turn.used = True
            if option.link in self.ports.flows:
                state.intents.append(IntentFrame(intent=option.link, started_turn=state.turn))
                await self.runner.walk(turn)
            else:
                await self.repair.hand_off(turn, state.offer_reason or "customer_request")
        elif reason is not None:
            await self.repair.hand_off(turn, reason)
        elif option.pattern is not None:
            turn.used = True
            await self.repair.run(turn, option.pattern)

    async def _not_understood(self, turn: TurnContext) -> None:
        state = turn.state
        state.not_understood_streak += 1
        turn.event("decision", "not_understood", {"streak": state.not_understood_streak})
        if state.not_understood_streak >= self.config.max_not_understood:
            turn.messages = [m for m in turn.messages if m.role != "bot" or m.readback]
            await self.repair.hand_off(turn, "not_understood")
            return
        if turn.asked:
            await self.repair.run(turn, "not_understood_again")
            return
        prompt = state.last_prompt if state.expects else turn.text("how_can_i_help")
        await self.repair.run(turn, "not_understood", {"prompt": prompt})


def _not_yes_or_no(command: Command) -> bool:
    return isinstance(command, CannotHandle) and command.reason == "not_yes_or_no"


def _value(raw: Any, turn: TurnContext) -> Any:
    if isinstance(raw, str) and raw.startswith("$"):
        return lookup(raw, None, turn.state)
    return raw
