"""Idempotency keys: a repeated write is answered from its first result and never written twice,
including across a process restart, a reply lost after the write landed, and a failed
verification read."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from actions import audit
from actions.backoffice import Backoffice
from actions.paths import ROOT
from tests import retail_reference as R
from tests.retail_calls import assert_ok, assert_store, call


def gift_card_order(db_json) -> dict:
    """A pending order paid by gift card: a second write would show as a second refund and balance credit."""
    return R.pick(
        db_json,
        "pending and paid by gift card",
        status="pending",
        where=lambda o: R.is_gift_card(R.paid_with(db_json, o)),
    )


def cancel_args(o, reason="no longer needed") -> dict:
    return {"order_id": o["order_id"], "reason": reason}


async def test_same_key_twice_writes_once(retail_office, db_json):
    o = gift_card_order(db_json)
    R.cancel(db_json, o["order_id"], "no longer needed")

    first = await call(retail_office, "cancel_pending_order", cancel_args(o), o["user_id"], key="once-1")
    second = await call(retail_office, "cancel_pending_order", cancel_args(o), o["user_id"], key="once-1")

    assert_ok(first)
    assert_ok(second)
    assert not first.replayed and second.replayed
    assert second.verification.confirmation_id == first.verification.confirmation_id
    assert second.output == first.output
    await assert_store(retail_office, db_json)  # one refund entry, one balance credit
    assert [e.status for e in await audit.entries(retail_office.db, tool="cancel_pending_order")] == ["ok", "ok"]


async def test_same_key_for_another_request_is_refused(retail_office, db_json):
    o = gift_card_order(db_json)
    R.cancel(db_json, o["order_id"], "no longer needed")
    assert_ok(await call(retail_office, "cancel_pending_order", cancel_args(o), o["user_id"], key="reused-1"))

    other_reason = await call(
        retail_office, "cancel_pending_order", cancel_args(o, "ordered by mistake"), o["user_id"], key="reused-1"
    )
    address = R.an_address(db_json, o["user_id"])
    other_tool = await call(
        retail_office,
        "modify_pending_order_address",
        {"order_id": o["order_id"], **address},
        o["user_id"],
        key="reused-1",
    )

    for result in (other_reason, other_tool):
        assert result.status == "rejected"
        assert result.error.code == "idempotency_key_reused"
        assert "reused-1" in result.error.message and result.output is None
    await assert_store(retail_office, db_json)


FIRST_CALL = """
import asyncio, json, sys
from actions.backoffice import Backoffice
from actions.models import Actor, CallContext, IdentityLevel

url, tool, args, user_id, key = sys.argv[1:6]


async def main():
    office = await Backoffice(url).open()
    try:
        ctx = CallContext(
            actor=Actor(kind="customer", user_id=user_id, identity_level=IdentityLevel.basic),
            confirmed=True,
            idempotency_key=key,
        )
        result = await office.call(tool, json.loads(args), ctx)
    finally:
        await office.close()
    print(result.model_dump_json())


asyncio.run(main())
"""


async def test_same_key_after_a_process_restart_writes_once(retail_office, db_json, retail_url):
    o = gift_card_order(db_json)
    R.cancel(db_json, o["order_id"], "no longer needed")

    done = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-c",
            FIRST_CALL,
            retail_url,
            "cancel_pending_order",
            json.dumps(cancel_args(o)),
            o["user_id"],
            "restart-1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    assert first["status"] == "ok" and first["verification"]["verified"]
    await assert_store(retail_office, db_json)  # the other process's write is in the store

    again = await call(retail_office, "cancel_pending_order", cancel_args(o), o["user_id"], key="restart-1")

    assert_ok(again)
    assert again.replayed
    assert again.verification.confirmation_id == first["verification"]["confirmation_id"]
    assert again.output == first["output"]
    await assert_store(retail_office, db_json)


async def _faulty(retail_url: str, rules: str) -> Backoffice:
    office = Backoffice(retail_url, faults=rules, timeout_s=0.3)
    return await office.open()


async def test_lost_reply_is_recovered_by_the_retry_with_one_write(db_json, retail_url):
    office = await _faulty(retail_url, "retail.cancel_pending_order:lost_response")
    try:
        o = gift_card_order(db_json)
        R.cancel(db_json, o["order_id"], "no longer needed")

        result = await call(office, "cancel_pending_order", cancel_args(o), o["user_id"], key="lost-1")

        assert_ok(result)
        assert result.attempts == 2 and not result.replayed
        assert [kind for _, _, kind in office.faults.log] == ["lost_response"]
        await assert_store(office, db_json)
    finally:
        await office.close()


async def test_reply_lost_on_every_attempt_still_reports_the_landed_write_once(db_json, retail_url):
    office = await _faulty(retail_url, "retail.cancel_pending_order:lost_response:x3")
    try:
        o = gift_card_order(db_json)
        R.cancel(db_json, o["order_id"], "no longer needed")

        result = await call(office, "cancel_pending_order", cancel_args(o), o["user_id"], key="lost-2")

        assert_ok(result)
        assert result.attempts == 3
        assert len(office.faults.log) == 3
        await assert_store(office, db_json)
    finally:
        await office.close()


async def test_an_error_before_the_write_is_retried(db_json, retail_url):
    office = await _faulty(retail_url, "retail.cancel_pending_order:error")
    try:
        o = gift_card_order(db_json)
        R.cancel(db_json, o["order_id"], "no longer needed")

        result = await call(office, "cancel_pending_order", cancel_args(o), o["user_id"], key="err-1")

        assert_ok(result)
        assert result.attempts == 2
        await assert_store(office, db_json)
    finally:
        await office.close()


async def test_a_timed_out_write_is_retried(db_json, retail_url):
    office = await _faulty(retail_url, "retail.cancel_pending_order:timeout")
    try:
        o = gift_card_order(db_json)
        R.cancel(db_json, o["order_id"], "no longer needed")

        result = await call(office, "cancel_pending_order", cancel_args(o), o["user_id"], key="slow-1")

        assert_ok(result)
        assert result.attempts == 2
        assert [kind for _, _, kind in office.faults.log] == ["timeout"]
        await assert_store(office, db_json)
    finally:
        await office.close()


async def test_a_system_failing_every_attempt_writes_nothing_and_the_key_works_later(db_json, retail_url):
    office = await _faulty(retail_url, "retail.cancel_pending_order:error:x3")
    try:
        o = gift_card_order(db_json)
        failed = await call(office, "cancel_pending_order", cancel_args(o), o["user_id"], key="down-1")

        assert failed.status == "failed"
        assert failed.error.code == "system_error" and failed.attempts == 3
        assert failed.output is None and not failed.verified
        await assert_store(office, db_json)  # nothing written

        later = await call(office, "cancel_pending_order", cancel_args(o), o["user_id"], key="down-1")
        assert_ok(later)
        assert not later.replayed
        R.cancel(db_json, o["order_id"], "no longer needed")
        await assert_store(office, db_json)
    finally:
        await office.close()


async def test_failed_verification_read_is_unverified_and_a_repeat_verifies(db_json, retail_url):
    office = await _faulty(retail_url, "retail.verify:error:x3")
    try:
        o = gift_card_order(db_json)
        R.cancel(db_json, o["order_id"], "no longer needed")

        first = await call(office, "cancel_pending_order", cancel_args(o), o["user_id"], key="verify-1")

        assert first.status == "unverified"
        assert first.verification is not None and not first.verification.verified
        assert first.verification.error.code == "system_error"
        assert not first.ok
        await assert_store(office, db_json)  # the write itself landed, once

        again = await call(office, "cancel_pending_order", cancel_args(o), o["user_id"], key="verify-1")
        assert_ok(again)
        assert again.replayed
        await assert_store(office, db_json)  # still once
        entries = await audit.entries(office.db, tool="cancel_pending_order")
        assert [(e.status, e.verified) for e in entries] == [("unverified", False), ("ok", True)]
    finally:
        await office.close()
