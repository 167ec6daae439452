"""Reconcile: the audit log against the systems of record, cross-system rules, flagged workflows; its command."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import update
from typer.testing import CliRunner

from actions import sagas
from actions.backoffice import Backoffice
from actions.faults import FaultRule
from actions.models import Actor, CallContext, utcnow
from actions.reconcile import reconcile
from actions.systems import billing, payments, scheduler
from frontdesk.cli import app
from tests import office as office_module
from tests.conftest import customer
from tests.office import copy_of, delivered_order, next_slot, subscriber

office_template = office_module.office_template
office = office_module.office

AGENT = CallContext(actor=Actor(kind="agent", name="dana"))


async def _change(bo: Backoffice, user_id: str, plan: str):
    result = await bo.call(
        "change_subscription", {"user_id": user_id, "plan_id": plan}, customer(user_id, confirmed=True)
    )
    assert result.ok
    return result


async def test_a_seeded_back_office_is_clean(office):
    report = await reconcile(office.db)
    assert report.clean and report.findings == []


async def test_a_verified_change_that_no_longer_holds_is_listed_unless_a_later_write_explains_it(office):
    user_id = await subscriber(office, plan="basic")
    first = await _change(office, user_id, "plus")
    assert (await reconcile(office.db)).clean
    # Someone moves the plan back behind the back office's back.
    async with office.db.write() as conn:
        await conn.execute(
            update(billing.subscriptions).where(billing.subscriptions.c.user_id == user_id).values(plan_id="basic")
        )
    report = await reconcile(office.db)
    broken = report.about(kind="postcondition_broken")
    assert [(f.tool, f.audit_id, f.subject) for f in broken] == [
        ("change_subscription", first.audit_id, f"subscription:{user_id}")
    ]
    assert "not active on plus" in broken[0].detail
    # An invariant breaks with it: the plan's entitlements no longer match.
    assert report.about(kind="invariant")
    async with office.db.write() as conn:
        await conn.execute(
            update(billing.subscriptions).where(billing.subscriptions.c.user_id == user_id).values(plan_id="plus")
        )
    second = await _change(office, user_id, "premium")
    report = await reconcile(office.db)
    assert report.clean, report.findings
    assert report.checked_writes == 2 and second.audit_id > first.audit_id


async def test_a_write_that_landed_but_was_not_reported_done_is_listed(office):
    office.faults.add(FaultRule(system="crm", operation="verify", kind="error", times=None))
    key = "ticket-1"
    ctx = CallContext(actor=Actor(kind="agent"), idempotency_key=key)
    args = {"reason": "asked", "summary": {"issue": "x"}}
    unverified = await office.call("create_handoff_ticket", args, ctx)
    assert unverified.status == "unverified" and not unverified.verified
    findings = (await reconcile(office.db)).about(kind="landed_not_ok")
    assert [(f.tool, f.subject, f.audit_id) for f in findings] == [
        ("create_handoff_ticket", f"key:{key}", unverified.audit_id)
    ]
    office.faults.clear()
    office.gateway.breakers.clear()
    again = await office.call("create_handoff_ticket", args, ctx)
    assert again.status == "ok" and again.replayed and again.output == unverified.output
    assert (await reconcile(office.db)).clean


async def test_cross_system_rules_are_checked(office):
    user_id = await subscriber(office, plan="premium")
    slot_id = await next_slot(office)
    async with office.db.write() as conn:
        await payments.issue_refund(
            conn,
            refund_id="RF-STRAY",
            order_id="#W2378156",
            user_id="u",
            amount=10,
            payment_method_id="paypal_1",
            method_kind="paypal",
            reason="by hand",
        )
        await conn.execute(
            update(billing.subscriptions).where(billing.subscriptions.c.user_id == user_id).values(status="cancelled")
        )
        await conn.execute(
            update(scheduler.slots).where(scheduler.slots.c.slot_id == slot_id).values(booking_id="BK-0")
        )
    report = await reconcile(office.db)
    subjects = {(f.system, f.subject) for f in report.about(kind="invariant")}
    assert subjects == {
        ("payments", "refund:RF-STRAY"),
        ("billing", f"subscription:{user_id}"),
        ("scheduler", f"slot:{slot_id}"),
    }


async def test_workflows_that_could_not_finish_or_are_still_running_are_listed(office):
    order = await delivered_order(office, under=90)
    line = order["items"][0]
    args = {
        "order_id": order["order_id"],
        "kind": "damaged",
        "item_ids": [line["item_id"]],
        "resolution": "refund",
        "amount": line["price"],
    }
    office.faults.add(FaultRule(system="notifications", operation="notify", kind="error", times=None))
    stuck = await office.call("refund_package", args, customer(order["user_id"], confirmed=True))
    assert stuck.status == "needs_reconciliation" and not stuck.verified
    now = utcnow()
    async with office.db.write() as conn:
        await sagas.create(
            conn,
            sagas.SagaRecord(
                workflow_id="WF-RUNNING",
                kind="book_callback",
                idempotency_key="k-running",
                status="running",
                arguments={},
                created_at=now,
                updated_at=now,
            ),
        )
    report = await reconcile(office.db)
    flagged = {f.workflow_id: f for f in report.about(kind="workflow")}
    assert set(flagged) == {stuck.workflow_id, "WF-RUNNING"}
    assert flagged[stuck.workflow_id].system == "notifications" and "notify" in flagged[stuck.workflow_id].detail
    assert "still running" in flagged["WF-RUNNING"].detail
    # The refund itself stands: money moved and is on the order, so only the workflow is listed.
    assert report.about(kind="invariant") == []


def test_the_reconcile_command_exits_1_and_names_what_it_found(office_template, tmp_path):
    url = copy_of(office_template, tmp_path / "cli.sqlite3")
    runner = CliRunner()
    clean = runner.invoke(app, ["backoffice", "reconcile", "--db", url])
    assert clean.exit_code == 0, clean.output
    assert "clean" in clean.output

    async def tamper() -> None:
        bo = Backoffice(url)
        try:
            async with bo.db.write() as conn:
                await conn.execute(
                    update(scheduler.slots)
                    .where(scheduler.slots.c.slot_id == scheduler.slots_for(office_module.tomorrow())[0].slot_id)
                    .values(booking_id="BK-GHOST")
                )
        finally:
            await bo.close()

    asyncio.run(tamper())
    table = runner.invoke(app, ["backoffice", "reconcile", "--db", url])
    assert table.exit_code == 1
    assert "BK-GHOST" in table.output and "invariant" in table.output
    as_json = runner.invoke(app, ["backoffice", "reconcile", "--db", url, "--json"])
    assert as_json.exit_code == 1
    findings = json.loads(as_json.output)["findings"]
    assert [(f["kind"], f["system"]) for f in findings] == [("invariant", "scheduler")]
