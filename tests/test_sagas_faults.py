"""The fault matrix: every workflow, every step, every fault kind, on the step's write and on its verification.

Each case runs one workflow on its own copy of the seeded back office with a fault that keeps
firing on one system call (`<system>.<step>` or that step's `<system>.verify`), then checks what
a support team relies on:

- the result is `ok` only when every step ran and was verified;
- `ok` means every effect is in the systems; a failed workflow left no trace but compensation
  records (claim withdrawn, case withdrawn, plan reverted with a credit, slot freed, code revoked);
  anything else is flagged `needs_reconciliation` and reconcile lists it;
- reconcile finds nothing at all after an `ok` or a fully undone workflow.

A lost reply on a write is recovered through its idempotency record, so it ends `ok` with the
write made once. Timeouts and slow answers past the deadline never reach the system.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from actions.backoffice import Backoffice
from actions.faults import FaultInjector, FaultKind, FaultRule
from actions.governance import GovernancePolicy, SagaState
from actions.models import Actor, CallContext, IdentityLevel, ToolResult
from actions.reconcile import reconcile
from actions.systems import billing, claims, crm, identity, notifications, payments, retail, scheduler
from actions.tools import default_registry
from tests import office
from tests.office import account_holder, copy_of, delivered_order, next_slot, subscriber, throwaway

office_template = office.office_template


# The deadline of the cases whose fault is a wait (timeout, slow): ten times a normal call on a warm
# connection. Every other case keeps a generous deadline, so that no deadline ever fires while a
# statement is running (that would test the database driver, not the workflow).
DEADLINE_S = 0.1
RELAXED_DEADLINE_S = 5.0
# Cases run in two lanes so that one case's wait for its deadline overlaps another's work. More
# lanes make single calls wait on each other for the interpreter lock and hit the deadline.
LANES = 2
# One attempt per call: a fault that keeps firing fails the step at once (retries are exercised by
# the lost-reply test below, with the policy's usual attempts).
MATRIX_POLICY = GovernancePolicy(max_attempts=1, backoff_s=0.0)
POLICY = GovernancePolicy(max_attempts=3, backoff_s=0.0)
REGISTRY = default_registry()


def _customer(user_id: str, level: IdentityLevel = IdentityLevel.basic, *, key: str) -> CallContext:
    return CallContext(
        actor=Actor(kind="customer", user_id=user_id, identity_level=level), confirmed=True, idempotency_key=key
    )


@dataclass
class Case:
    """One workflow call to make, and what was there before it."""

    args: dict[str, Any]
    user_id: str
    level: IdentityLevel = IdentityLevel.basic
    before: dict[str, Any] = field(default_factory=dict)


@dataclass
class Scenario:
    name: str
    tool: str
    prepare: Callable[[Backoffice], Awaitable[Case]]
    done: Callable[[Backoffice, Case, ToolResult], Awaitable[None]]
    undone: Callable[[Backoffice, Case, ToolResult], Awaitable[None]]


# ------------------------------------------------------------------ shared look-ups


async def _live_cases(bo: Backoffice, key: str) -> list[crm.Case]:
    async with bo.db.read() as conn:
        rows = (await conn.execute(select(crm.cases).where(crm.cases.c.reference == key))).all()
    return [crm.Case.model_validate(dict(r._mapping)) for r in rows if r.status != "withdrawn"]


async def _messages(bo: Backoffice, key: str) -> list[notifications.Message]:
    async with bo.db.read() as conn:
        rows = (await conn.execute(select(notifications.outbox).where(notifications.outbox.c.reference == key))).all()
    return [notifications.Message.model_validate(dict(r._mapping)) for r in rows]


async def _told_once(bo: Backoffice, result: ToolResult, template: str) -> None:
    sent = await _messages(bo, result.idempotency_key)
    assert [m.template for m in sent] == [template]


async def _nothing_said(bo: Backoffice, result: ToolResult) -> None:
    assert await _live_cases(bo, result.idempotency_key) == []
    assert await _messages(bo, result.idempotency_key) == []


# ------------------------------------------------------------------ refund_package: refund


async def _prep_refund(bo: Backoffice) -> Case:
    order = await delivered_order(bo, method="gift_card", under=90)
    line = order["items"][0]
    async with bo.db.read() as conn:
        card = await retail.get_payment_method(conn, order["user_id"], order["payment_history"][0]["payment_method_id"])
    return Case(
        args={
            "order_id": order["order_id"],
            "kind": "damaged",
            "item_ids": [line["item_id"]],
            "resolution": "refund",
            "amount": line["price"],
        },
        user_id=order["user_id"],
        before={"order": order, "card": card},
    )


async def _refund_done(bo: Backoffice, case: Case, result: ToolResult) -> None:
    async with bo.db.read() as conn:
        order, _ = await retail.get_order(conn, case.args["order_id"])
        ledger = await payments.refunds_for_order(conn, order["order_id"])
        claim = await claims.live_claim(conn, order["order_id"])
        card = await retail.get_payment_method(conn, case.user_id, case.before["card"]["id"])
    amount = case.args["amount"]
    assert [(r.amount, r.status) for r in ledger] == [(amount, "settled")]
    assert order["payment_history"][1:] == [
        {
            "transaction_type": "refund",
            "amount": amount,
            "payment_method_id": case.before["card"]["id"],
            "refund_id": ledger[0].refund_id,
        }
    ]
    assert card["balance"] == round(case.before["card"]["balance"] + amount, 2)
    assert claim is not None and claim.status == "refunded"
    assert len(await _live_cases(bo, result.idempotency_key)) == 1
    await _told_once(bo, result, "package_refund")


async def _refund_undone(bo: Backoffice, case: Case, result: ToolResult) -> None:
    async with bo.db.read() as conn:
        order, _ = await retail.get_order(conn, case.args["order_id"])
        ledger = await payments.refunds_for_order(conn, order["order_id"])
        claim = await claims.live_claim(conn, order["order_id"])
        card = await retail.get_payment_method(conn, case.user_id, case.before["card"]["id"])
    assert ledger == []
    assert claim is None
    assert order == case.before["order"]
    assert card == case.before["card"]
    await _nothing_said(bo, result)


# ------------------------------------------------------------------ refund_package: replacement


async def _prep_replacement(bo: Backoffice) -> Case:
    order = await delivered_order(bo, method="credit_card")
    async with bo.db.read() as conn:
        user = await retail.get_user(conn, order["user_id"])
    return Case(
        args={
            "order_id": order["order_id"],
            "kind": "missing",
            "item_ids": [order["items"][0]["item_id"]],
            "resolution": "replacement",
        },
        user_id=order["user_id"],
        before={"orders": list(user["orders"]), "order": order},
    )


async def _replacement_done(bo: Backoffice, case: Case, result: ToolResult) -> None:
    async with bo.db.read() as conn:
        claim = await claims.live_claim(conn, case.args["order_id"])
        user = await retail.get_user(conn, case.user_id)
        new, _ = await retail.get_order(conn, result.output["replacement_order_id"])
    assert claim is not None and claim.status == "replaced"
    assert user["orders"] == [*case.before["orders"], new["order_id"]]
    assert new["status"] == "pending" and new["payment_history"] == []
    assert [i["item_id"] for i in new["items"]] == case.args["item_ids"]
    assert len(await _live_cases(bo, result.idempotency_key)) == 1
    await _told_once(bo, result, "package_replacement")


async def _replacement_undone(bo: Backoffice, case: Case, result: ToolResult) -> None:
    async with bo.db.read() as conn:
        claim = await claims.live_claim(conn, case.args["order_id"])
        user = await retail.get_user(conn, case.user_id)
        order, _ = await retail.get_order(conn, case.args["order_id"])
        extra = [(await retail.get_order(conn, o))[0] for o in user["orders"] if o not in case.before["orders"]]
    assert claim is None
    assert order == case.before["order"]
    # A replacement order that was made is kept as the record of its undoing: cancelled.
    assert all(o["status"] == "cancelled" and o["cancel_reason"] == "replacement withdrawn" for o in extra)
    await _nothing_said(bo, result)


# ------------------------------------------------------------------ subscriptions


async def _subscription_state(bo: Backoffice, user_id: str) -> tuple[billing.Subscription, list[str], list]:
    async with bo.db.read() as conn:
        return (
            await billing.get_subscription(conn, user_id),
            await billing.entitlements_of(conn, user_id),
            await billing.invoices_for(conn, user_id, limit=50),
        )


async def _prep_change(bo: Backoffice) -> Case:
    user_id = await subscriber(bo, plan="basic")
    _, ents, invoices = await _subscription_state(bo, user_id)
    return Case(
        args={"user_id": user_id, "plan_id": "plus"},
        user_id=user_id,
        before={"entitlements": ents, "invoices": len(invoices)},
    )


async def _change_done(bo: Backoffice, case: Case, result: ToolResult) -> None:
    sub, ents, invoices = await _subscription_state(bo, case.user_id)
    assert (sub.status, sub.plan_id) == ("active", "plus")
    assert ents == sorted(next(p for p in billing.DEFAULT_PLANS if p.plan_id == "plus").entitlements)
    assert len(invoices) == case.before["invoices"] + 1
    assert len(await _live_cases(bo, result.idempotency_key)) == 1
    await _told_once(bo, result, "subscription_changed")


async def _change_undone(bo: Backoffice, case: Case, result: ToolResult) -> None:
    sub, ents, invoices = await _subscription_state(bo, case.user_id)
    assert (sub.status, sub.plan_id) == ("active", "basic")
    assert ents == case.before["entitlements"]
    new = invoices[: len(invoices) - case.before["invoices"]]
    # Either nothing was billed, or the change and its reversal, netting to zero.
    assert sorted(i.kind for i in new) in ([], ["proration", "reversal"])
    assert round(sum(i.total for i in new), 2) == 0
    await _nothing_said(bo, result)


async def _prep_cancel(bo: Backoffice) -> Case:
    user_id = await subscriber(bo, plan="premium")
    _, ents, _ = await _subscription_state(bo, user_id)
    return Case(args={"user_id": user_id, "reason": "too expensive"}, user_id=user_id, before={"entitlements": ents})


async def _cancel_done(bo: Backoffice, case: Case, result: ToolResult) -> None:
    sub, ents, _ = await _subscription_state(bo, case.user_id)
    assert (sub.status, sub.renews, ents) == ("cancelled", False, [])
    assert len(await _live_cases(bo, result.idempotency_key)) == 1
    await _told_once(bo, result, "subscription_cancelled")


async def _cancel_undone(bo: Backoffice, case: Case, result: ToolResult) -> None:
    sub, ents, _ = await _subscription_state(bo, case.user_id)
    assert (sub.status, sub.renews, sub.plan_id) == ("active", True, "premium")
    assert ents == case.before["entitlements"]
    await _nothing_said(bo, result)


# ------------------------------------------------------------------ identity


async def _links(bo: Backoffice, user_id: str) -> list[identity.ResetLink]:
    async with bo.db.read() as conn:
        rows = (await conn.execute(select(identity.reset_links).where(identity.reset_links.c.user_id == user_id))).all()
    return [identity.ResetLink.model_validate(dict(r._mapping)) for r in rows]


async def _codes(bo: Backoffice, user_id: str) -> list[identity.OneTimeCode]:
    async with bo.db.read() as conn:
        rows = (await conn.execute(select(identity.codes).where(identity.codes.c.user_id == user_id))).all()
    return [identity.OneTimeCode.model_validate(dict(r._mapping)) for r in rows]


async def _prep_reset(bo: Backoffice) -> Case:
    account = await account_holder(bo)
    return Case(args={"user_id": account.user_id}, user_id=account.user_id, level=IdentityLevel.strong)


async def _reset_done(bo: Backoffice, case: Case, result: ToolResult) -> None:
    links = await _links(bo, case.user_id)
    assert [(link.used, link.revoked) for link in links] == [(False, False)]
    await _told_once(bo, result, "password_reset")


async def _reset_undone(bo: Backoffice, case: Case, result: ToolResult) -> None:
    assert all(link.revoked for link in await _links(bo, case.user_id))
    await _nothing_said(bo, result)


async def _prep_code(bo: Backoffice) -> Case:
    account = await account_holder(bo, skip=1)
    return Case(args={"email": account.email, "channel": "sms"}, user_id=account.user_id, level=IdentityLevel.none)


async def _code_done(bo: Backoffice, case: Case, result: ToolResult) -> None:
    codes = await _codes(bo, case.user_id)
    assert [c.status for c in codes] == ["active"]
    sent = await _messages(bo, result.idempotency_key)
    assert [(m.channel, m.to) for m in sent] == [("sms", codes[0].destination)]


async def _code_undone(bo: Backoffice, case: Case, result: ToolResult) -> None:
    assert all(c.status == "revoked" for c in await _codes(bo, case.user_id))
    await _nothing_said(bo, result)


# ------------------------------------------------------------------ callbacks


async def _prep_callback(bo: Backoffice) -> Case:
    account = await account_holder(bo, skip=2)
    slot_id = await next_slot(bo)
    return Case(
        args={"user_id": account.user_id, "slot_id": slot_id, "topic": "a question about my bill"},
        user_id=account.user_id,
    )


async def _slot_and_bookings(bo: Backoffice, slot_id: str) -> tuple[scheduler.Slot, list[scheduler.Booking]]:
    async with bo.db.read() as conn:
        slot = await scheduler.get_slot(conn, slot_id)
        return slot, [b for b in await scheduler.all_bookings(conn) if b.slot_id == slot_id]


async def _callback_done(bo: Backoffice, case: Case, result: ToolResult) -> None:
    slot, bookings = await _slot_and_bookings(bo, case.args["slot_id"])
    assert [(b.status, b.user_id) for b in bookings] == [("booked", case.user_id)]
    assert slot.booking_id == bookings[0].booking_id
    assert len(await _live_cases(bo, result.idempotency_key)) == 1
    await _told_once(bo, result, "callback_booked")


async def _callback_undone(bo: Backoffice, case: Case, result: ToolResult) -> None:
    slot, bookings = await _slot_and_bookings(bo, case.args["slot_id"])
    assert slot.booking_id is None
    assert all(b.status == "cancelled" for b in bookings)
    await _nothing_said(bo, result)


SCENARIOS = [
    Scenario("refund", "refund_package", _prep_refund, _refund_done, _refund_undone),
    Scenario("replacement", "refund_package", _prep_replacement, _replacement_done, _replacement_undone),
    Scenario("change_plan", "change_subscription", _prep_change, _change_done, _change_undone),
    Scenario("cancel_plan", "cancel_subscription", _prep_cancel, _cancel_done, _cancel_undone),
    Scenario("reset_password", "reset_password", _prep_reset, _reset_done, _reset_undone),
    Scenario("one_time_code", "send_one_time_code", _prep_code, _code_done, _code_undone),
    Scenario("callback", "book_callback", _prep_callback, _callback_done, _callback_undone),
]

# Which steps each scenario runs (a step's `when` depends on the arguments only).
_RUNS = {
    "refund": {"resolution": "refund"},
    "replacement": {"resolution": "replacement"},
}


def _steps(scenario: Scenario):
    spec = REGISTRY.get(scenario.tool)
    wanted = _RUNS.get(scenario.name, {})
    out = []
    for step in spec.stages:
        if step.when is not None:
            probe = SagaState(args=SimpleNamespace(**wanted), ctx=CallContext(), saga_id="", key="")
            if not step.when(probe):
                continue
        out.append(step)
    return out


def _expected(scenario: Scenario, step_name: str, target: str, kind: FaultKind) -> str:
    steps = _steps(scenario)
    index = next(n for n, s in enumerate(steps) if s.name == step_name)
    moved_on = any(s.pivot for s in steps[:index])
    if target == "write":
        if kind is FaultKind.lost_response:
            return "ok"
        return "needs_reconciliation" if moved_on else "failed"
    return "needs_reconciliation" if moved_on or steps[index].pivot else "failed"


def _rule(scenario: Scenario, step_name: str, target: str, kind: FaultKind) -> FaultRule:
    steps = _steps(scenario)
    step = next(s for s in steps if s.name == step_name)
    # The fault must hit this step's verification read, not an earlier step's on the same system.
    earlier = sum(1 for s in steps[: steps.index(step)] if s.system == step.system)
    return FaultRule(
        system=step.system,
        operation=step.name if target == "write" else "verify",
        kind=kind,
        times=None,
        skip=0 if target == "write" else earlier,
        delay_s=DEADLINE_S * 3,
    )


_PREPARED: dict[str, Case] = {}


async def _prepared(template, path, scenario: Scenario) -> Case:
    """The call to make for a scenario: every copy of the template is the same, so work it out once."""
    if scenario.name not in _PREPARED:
        bo = Backoffice(copy_of(template, path))
        try:
            _PREPARED[scenario.name] = await scenario.prepare(bo)
        finally:
            await bo.close()
    return _PREPARED[scenario.name]


class Bench:
    """One back office whose database file is put back to the template before every case.

    Keeping the engine keeps its compiled statements, which is most of what a fresh back office
    costs; the file, the faults and the circuit breakers are new for every case.
    """

    def __init__(self, template: Path, path: Path):
        self.template, self.path = template, path
        self.bo = throwaway(Backoffice(copy_of(template, path), policy=MATRIX_POLICY, faults=FaultInjector()))

    async def fresh(self, deadline_s: float) -> Backoffice:
        # Calls that outlived the last case's deadline finish before its file is replaced.
        await self.bo.gateway.drain()
        await self.bo.runner.read_audit.flush()
        self.bo.db.sqlite_engine.dispose()
        for suffix in ("-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        copy_of(self.template, self.path)
        self.bo.faults.clear()
        self.bo.gateway.breakers.clear()
        self.bo.gateway.timeout_s = deadline_s
        self.bo.gateway.system_timeouts.clear()
        # Open the connection now, outside any deadline.
        async with self.bo.db.write() as conn:
            await conn.execute(select(1))
        return self.bo


async def _run_case(bench: Bench, scenario: Scenario, case: Case, step_name: str, target: str, kind: FaultKind):
    waits = kind in (FaultKind.timeout, FaultKind.slow)
    bo = await bench.fresh(RELAXED_DEADLINE_S)
    rule = _rule(scenario, step_name, target, kind)
    if waits:
        # Only the faulted operation gets the short deadline: a busy machine must not time out the others.
        target_op = f"{rule.system}.{rule.operation}" if rule.operation else rule.system
        bo.gateway.system_timeouts[target_op] = DEADLINE_S
    bo.faults.add(rule)
    key = f"matrix:{scenario.name}:{step_name}:{target}:{kind.value}"
    result = await bo.call(scenario.tool, case.args, _customer(case.user_id, case.level, key=key))
    bo.faults.clear()
    expected = _expected(scenario, step_name, target, kind)
    assert result.status == expected, f"{result.status} ({result.error})"
    ran = [s for s in result.steps if s.status != "skipped"]
    assert ran, "no step ran"
    assert (result.status == "ok") == all(s.status == "done" and s.verified for s in ran)
    report = await reconcile(bo.db)
    if result.status == "ok":
        await scenario.done(bo, case, result)
        assert report.clean, report.findings
    elif result.status == "failed":
        assert result.verification is not None and not result.verification.verified
        await scenario.undone(bo, case, result)
        assert report.clean, report.findings
    else:
        assert report.about(workflow_id=result.workflow_id, kind="workflow"), "reconcile does not list the workflow"
        assert not result.verification.verified


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_a_fault_that_keeps_firing_ends_consistent(office_template, tmp_path, scenario):
    """Every step x (its write, its verification) x every fault kind, each on a fresh copy."""
    case = await _prepared(office_template, tmp_path / "prepare.sqlite3", scenario)
    runs = [
        (step.name, target, kind) for step in _steps(scenario) for target in ("write", "verify") for kind in FaultKind
    ]
    queue: asyncio.Queue = asyncio.Queue()
    for run in runs:
        queue.put_nowait(run)
    failures: list[str] = []

    async def lane(n: int) -> None:
        bench = Bench(office_template, tmp_path / f"lane{n}.sqlite3")
        try:
            while not queue.empty():
                step_name, target, kind = queue.get_nowait()
                try:
                    await _run_case(bench, scenario, case, step_name, target, kind)
                except AssertionError as exc:
                    failures.append(f"{step_name}/{target}/{kind.value}: {exc}")
        finally:
            await bench.bo.close()

    await asyncio.gather(*(lane(n) for n in range(LANES)))
    assert not failures, f"{len(failures)} of {len(runs)} cases:\n" + "\n".join(failures)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_one_lost_reply_per_step_still_writes_everything_once(office_template, tmp_path, scenario):
    bo = Backoffice(copy_of(office_template, tmp_path / "o.sqlite3"), timeout_s=RELAXED_DEADLINE_S, policy=POLICY)
    try:
        case = await _prepared(office_template, tmp_path / "prepare.sqlite3", scenario)
        steps = _steps(scenario)
        for step in steps:
            bo.faults.add(FaultRule(system=step.system, operation=step.name, kind=FaultKind.lost_response, times=1))
        for system in {step.system for step in steps}:
            # One verification read per system errors once; the retry reads again.
            bo.faults.add(FaultRule(system=system, operation="verify", kind=FaultKind.error, times=1))
        result = await bo.call(
            scenario.tool, case.args, _customer(case.user_id, case.level, key=f"lost:{scenario.name}")
        )
        assert result.status == "ok", result.error
        assert all(s.verified for s in result.steps if s.status != "skipped")
        await scenario.done(bo, case, result)
        assert (await reconcile(bo.db)).clean
    finally:
        await bo.close()
