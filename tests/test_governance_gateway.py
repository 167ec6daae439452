"""The gateway every call passes through: a system that keeps failing trips its circuit breaker,
after which calls are refused at once as unavailable (nothing is attempted, nothing written)
until the system is given a trial call again."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text

from actions.backoffice import Backoffice
from actions.circuit import BreakerConfig, CircuitBreaker
from actions.db import Database
from actions.errors import SystemTimeout
from actions.gateway import SystemGateway
from tests import retail_reference as R
from tests.retail_calls import assert_ok, assert_store, call


async def test_a_failing_system_trips_the_breaker_and_writes_are_refused_untried(db_json, retail_url):
    office = await Backoffice(retail_url, faults="retail:error:x*", timeout_s=0.3).open()
    try:
        o = R.pick(db_json, "pending", status="pending")
        read = {"order_id": o["order_id"]}
        threshold = BreakerConfig().failure_threshold
        first = await call(office, "get_order_details", read, o["user_id"], confirmed=False)
        assert first.status == "failed" and first.error.code == "system_error"

        while office.gateway.is_up("retail"):
            await call(office, "get_order_details", read, o["user_id"], confirmed=False)
        assert len(office.faults.log) == threshold
        assert office.gateway.health()["retail"] == "open"

        cancel = {"order_id": o["order_id"], "reason": "no longer needed"}
        refused = await call(office, "cancel_pending_order", cancel, o["user_id"], key="breaker-1")
        assert refused.status == "unavailable" and refused.error.code == "system_unavailable"
        assert refused.output is None and not refused.verified
        assert len(office.faults.log) == threshold, "an open breaker does not call the system"

        office.faults.clear()
        office.gateway.breaker("retail").reset()
        later = await call(office, "cancel_pending_order", cancel, o["user_id"], key="breaker-1")
        assert_ok(later)
        assert not later.replayed, "the refused call had written nothing"
        R.cancel(db_json, o["order_id"], "no longer needed")
        await assert_store(office, db_json)
    finally:
        await office.close()


async def test_after_the_pause_one_trial_call_closes_the_breaker(db_json, retail_url):
    office = await Backoffice(retail_url, faults="retail:error:x5", timeout_s=0.3).open()
    now = [0.0]
    config = BreakerConfig(failure_threshold=5, reset_after_s=30)
    office.gateway.breakers["retail"] = CircuitBreaker("retail", config, clock=lambda: now[0])
    try:
        o = R.pick(db_json, "delivered", status="delivered")
        read = {"order_id": o["order_id"]}
        results = [await call(office, "get_order_details", read, o["user_id"], confirmed=False) for _ in range(3)]
        assert [r.status for r in results] == ["failed", "unavailable", "unavailable"]
        assert len(office.faults.log) == config.failure_threshold
        assert office.gateway.health()["retail"] == "open"

        now[0] += config.reset_after_s
        assert office.gateway.health()["retail"] == "half_open"
        trial = await call(office, "get_order_details", read, o["user_id"], confirmed=False)

        assert trial.status == "ok" and trial.output["order"] == o
        assert office.gateway.health()["retail"] == "closed"
    finally:
        await office.close()


async def test_a_slow_answer_past_the_deadline_is_retried(db_json, retail_url):
    office = await Backoffice(retail_url, faults="retail.get_order_details:slow:5s", timeout_s=0.2).open()
    try:
        o = R.pick(db_json, "delivered", status="delivered")
        result = await call(office, "get_order_details", {"order_id": o["order_id"]}, o["user_id"], confirmed=False)
        assert result.status == "ok" and result.output["order"] == o
        assert [kind for _, _, kind in office.faults.log] == ["slow"]
    finally:
        await office.close()


async def test_a_write_past_its_deadline_finishes_instead_of_holding_the_lock(tmp_path):
    """A deadline that fires mid-statement must not leave the transaction holding the write lock:
    the write completes in the background (or not at all), and the next writer goes through."""
    db = Database(f"sqlite:///{tmp_path / 'lock.sqlite3'}")
    async with db.write() as conn:
        await conn.execute(text("create table t (x int)"))
    gateway = SystemGateway(timeout_s=0.05)

    async def slow_write():
        async with db.write() as conn:
            await conn.execute(text("insert into t values (1)"))
            await conn.execute(
                text(
                    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM c WHERE n < 2000000) "
                    "SELECT count(*) FROM c"
                )
            )

    # SQLite runs on the loop, so the statement cannot be interrupted: the call either returns once it
    # is done or, where it yielded past its deadline, times out while it finishes in the background.
    with contextlib.suppress(SystemTimeout):
        await gateway.call("retail", "slow_write", slow_write)
    # Guard against a hang on the busy lock (30 s), not a speed check.
    async with asyncio.timeout(15):
        async with db.write() as conn:
            await conn.execute(text("insert into t values (2)"))
    await gateway.drain()
    async with db.read() as conn:
        rows = sorted(r[0] for r in (await conn.execute(text("select x from t"))).all())
    assert rows == [1, 2], "the timed-out write landed once, whole"
    await db.dispose()
