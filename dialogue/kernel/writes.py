"""Writes: the customer's answer to a read-back, the write itself, and what the customer is told after.

Nothing is written without an explicit yes to the read-back (or a person's approval where the
tool registry asks for one). The state is saved right before the write, so a crash is finished on
resume with the same idempotency key. Success is worded only from a result whose verification
passed; anything short of that is said plainly: refused and why, waiting for a person's approval,
a system down, or not confirmed and passed to a person.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from actions import approvals
from actions.models import RiskClass, ToolResult
from dialogue.kernel.collectors import Accepted
from dialogue.kernel.commands import CorrectSlots, Deny
from dialogue.kernel.context import TurnContext
from dialogue.kernel.effects import PauseForYes, Say
from dialogue.kernel.flow import Flow
from dialogue.kernel.pack import DomainPack
from dialogue.kernel.ports import Ports
from dialogue.kernel.runner import END, FlowRunner, current_step
from dialogue.kernel.steps.collect import CollectStep
from dialogue.kernel.steps.confirm import ConfirmStep
from dialogue.kernel.steps.read import ReadStep
from dialogue.state import ActionRecord, IntentFrame, PendingApproval, PendingConfirmation

Checkpoint = Callable[[TurnContext], Awaitable[None]]


def _join(words: list[str], language: str) -> str:
    words = [w for w in words if w]
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + f" {'y' if language == 'es' else 'and'} " + words[-1]


class Writes:
    def __init__(self, ports: Ports, pack: DomainPack, runner: FlowRunner, backoffice: Any, checkpoint: Checkpoint):
        self.ports = ports
        self.pack = pack
        self.runner = runner
        self.backoffice = backoffice
        self.checkpoint = checkpoint

    def _confirm_step(self, frame: IntentFrame, tool: str) -> ConfirmStep:
        flow = self.ports.flows[frame.intent]
        step = next((s for s in flow.steps if isinstance(s, ConfirmStep) and s.confirm == tool), None)
        return step or current_step(frame, self.ports.flows)

    # ------------------------------------------------------------------ the answer to a read-back

    async def affirmed(self, turn: TurnContext) -> None:
        state = turn.state
        pending = state.pending_confirmation
        frame = state.active
        assert pending is not None and frame is not None
        turn.used = True
        turn.event("decision", "confirmed", {"tool": pending.tool})
        state.pending_confirmation = None
        if pending.tool in frame.declined:
            frame.declined.remove(pending.tool)  # said yes to it in the end
        step = self._confirm_step(frame, pending.tool)
        if pending.risk is RiskClass.approve:
            await self.request_approval(turn, frame, pending)
        else:
            await self.execute(
                turn, frame, step, tool=pending.tool, args=pending.arguments, key=pending.idempotency_key,
                risk=pending.risk,
            )  # fmt: skip
        if not turn.asked and not turn.handoff and state.mode == "bot":
            await self.runner.walk(turn)

    async def not_affirmed(self, turn: TurnContext, commands: list[Any]) -> None:
        """A correction ("no, the blue one") or a plain no: change what they say, then read back again."""
        state = turn.state
        pending = state.pending_confirmation
        frame = state.active
        assert pending is not None and frame is not None
        before = {k: s.value for k, s in frame.slots.items()}
        step_before = frame.step
        if any(isinstance(c, CorrectSlots) for c in commands):
            await self.apply_correction(turn, frame)
        changed = {k: s.value for k, s in frame.slots.items()} != before
        if not changed:
            frame.step = step_before
        state.pending_confirmation = None
        turn.used = True
        if changed:
            turn.event("decision", "corrected", {"tool": pending.tool})
            await self.runner.walk(turn)
            return
        if any(isinstance(c, Deny) for c in commands):
            turn.event("decision", "declined", {"tool": pending.tool})
            if pending.tool not in frame.declined:
                frame.declined.append(pending.tool)
            await self.ports.repair.run(turn, "correction")
            return
        turn.say("need_yes_or_no")
        turn.emit(PauseForYes(pending=pending, text=f"{pending.readback} {turn.text('ask_confirm')}",
                              choices=list(state.choices)))  # fmt: skip

    async def apply_correction(self, turn: TurnContext, frame: IntentFrame) -> None:
        """Re-open the slots the customer's words address and accept the new values."""
        flow = self.ports.flows[frame.intent]
        types = {e.type for e in turn.evidence.entities}
        for step in flow.steps:
            if not isinstance(step, CollectStep):
                continue
            spec = self.ports.catalog.get(step.collect)
            if spec is None or not spec.correcting_types() & types:
                continue
            old = frame.slots.pop(step.collect, None)
            if spec.correction == "keep_parts":
                frame.partial[step.collect] = dict(old.value) if old else {}
            result = await self.ports.collector_for(step).accept(turn, frame, step)
            if result is not Accepted.filled and old is not None and spec.correction != "replace_only":
                frame.slots[step.collect] = old
        # Walk again from the first step so every later step re-checks with the new values.
        frame.step = flow.steps[0].id

    # ------------------------------------------------------------------ the write

    async def execute(
        self,
        turn: TurnContext,
        frame: IntentFrame,
        step: ConfirmStep,
        *,
        tool: str,
        args: dict,
        key: str,
        risk: RiskClass,
        approval_id: str | None = None,
    ) -> ToolResult:
        state = turn.state
        record = ActionRecord(tool=tool, arguments=args, idempotency_key=key, stage="executing", status="executing",
                              risk=risk, write=True, turn=state.turn)  # fmt: skip
        state.actions.append(record)
        # Persist before writing: a crash from here on is finished on resume with the same key.
        await self.checkpoint(turn)
        result = await turn.tool(tool, args, confirmed=True, key=key, approval_id=approval_id)
        _record(record, result)
        self.pack.after_write(turn)
        await self.report(turn, frame, step, result, args)
        return result

    async def finish_unverified(self, turn: TurnContext, record: ActionRecord) -> None:
        """Resume after a crash between a confirmed write and its verification."""
        state = turn.state
        frame = state.active or next((f for f in reversed(state.intents) if f.status != "done"), None)
        turn.event("decision", "resume_unfinished_write", {"tool": record.tool})
        result = await turn.tool(record.tool, record.arguments, confirmed=True, key=record.idempotency_key)
        _record(record, result)
        self.pack.after_write(turn)
        if frame is None:
            return
        frame.status = "active"
        step = current_step(frame, self.ports.flows) or self.ports.flows[frame.intent].steps[-1]
        turn.say("resuming_after_interruption")
        await self.report(turn, frame, step, result, record.arguments)
        if not turn.asked and not turn.handoff:
            await self.runner.walk(turn)

    async def request_approval(self, turn: TurnContext, frame: IntentFrame, pending: PendingConfirmation) -> None:
        state = turn.state
        approval = await approvals.request(
            self.backoffice.db,
            pending.tool,
            self.backoffice.registry.get(pending.tool).input.model_validate(pending.arguments).model_dump(mode="json"),
            reason=approval_reason(turn, pending),
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
        await self.ports.repair.run(turn, "completed")

    # ------------------------------------------------------------------ after: what the customer is told

    async def report(
        self, turn: TurnContext, frame: IntentFrame, step: ConfirmStep, result: ToolResult, args: dict[str, Any]
    ) -> None:
        state = turn.state
        flow: Flow = self.ports.flows[frame.intent]
        if result.status == "ok" and result.verified:
            turn.emit(Say(text=self.ports.presenters.outcome(turn, frame, step, result)))
            frame.status = "done"
            frame.step = END
            return
        if result.status == "needs_approval":
            pending = PendingConfirmation(tool=result.tool, arguments=args, readback="",
                                          idempotency_key=result.idempotency_key or "", risk=result.risk,
                                          asked_turn=state.turn)  # fmt: skip
            await self.request_approval(turn, frame, pending)
            return
        code = result.error.code if result.error else ""
        if result.status == "conflict":
            turn.say(self.pack.rejections.conflict)
            reread = next((s for s in flow.steps if isinstance(s, ReadStep) and s.save in frame.versions), None)
            frame.step = reread.id if reread else flow.steps[0].id
            return
        if result.status in ("rejected", "forbidden") and code not in ("confirmation_required",):
            await self._refused(turn, frame, flow, result, code)
            return
        applied = (result.error.details or {}).get("applied") if result.error else None
        undone = bool(result.steps) and all(s.status in ("failed", "compensated", "skipped") for s in result.steps)
        if result.status == "unavailable" or (
            result.status == "failed" and (undone or (applied is False and not result.steps))
        ):
            # Proven not written (circuit open, or no idempotency record after the retries): say so.
            await self.ports.repair.system_down(turn, frame, result)
            return
        # failed / unverified / needs_reconciliation: it may or may not have happened. Say so, get a person.
        frame.status = "failed"
        done_steps = [s for s in result.steps if s.verified]
        turn.event("decision", "unverified_outcome", {"tool": result.tool, "status": result.status})
        if done_steps and result.status == "needs_reconciliation":
            turn.say("partly_done", done=_join([turn.text(f"step_{s.name}") for s in done_steps], turn.language))
        else:
            turn.say("not_verified")
        await self.ports.repair.hand_off(
            turn, "verification_failed" if result.status == "unverified" else "system_failure"
        )

    async def _refused(self, turn: TurnContext, frame: IntentFrame, flow: Flow, result: ToolResult, code: str) -> None:
        rejection = self.pack.rejections.codes.get(code)
        turn.event("decision", "action_refused", {"tool": result.tool, "code": code})
        turn.say(
            rejection.say if rejection else "rejected_generic", reason=result.error.message if result.error else ""
        )
        reask = rejection.reask if rejection else None
        collect = next((s for s in flow.steps if isinstance(s, CollectStep) and s.collect == reask), None)
        if collect is not None and rejection is not None:
            frame.slots.pop(collect.collect, None)
            for name in rejection.clear:
                frame.slots.pop(name, None)
            frame.step = collect.id
            return
        frame.status = "failed"
        if result.status == "forbidden":
            await self.ports.repair.offer_help(turn, "forbidden")


def _record(record: ActionRecord, result: ToolResult) -> None:
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


def approval_reason(turn: TurnContext, pending: PendingConfirmation) -> str:
    amount = pending.arguments.get("amount")
    base = f"{pending.tool} for {turn.state.identity.user_id}"
    return f"{base}: ${float(amount):,.2f} is above the approval threshold" if amount else base
