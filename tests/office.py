"""A seeded back office for the tests of the systems, sagas and reconcile.

The retail store plus the seed (and callback slots from tomorrow on) is built once per test run
into a template SQLite file; each test gets its own copy of that file, which is far cheaper than
importing 500 customers again. With FRONTDESK_TEST_PG=1 the data is imported into the test's
PostgreSQL database instead.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, select

from actions import seed
from actions.backoffice import Backoffice
from actions.governance import GovernancePolicy
from actions.paths import RETAIL_DB
from actions.systems import billing, identity, retail, scheduler


def tomorrow():
    return datetime.now(scheduler.BUSINESS_TZ).date() + timedelta(days=1)


def seeded_data() -> dict:
    data = json.loads(RETAIL_DB.read_text(encoding="utf-8"))
    return data | seed.generate(data["users"])


async def build_template(path: Path) -> None:
    """The retail store, the seed and callback slots from tomorrow on, imported into a SQLite file at `path`."""
    bo = await Backoffice(f"sqlite:///{path}").open()
    try:
        await bo.import_data(seeded_data())
        await bo.ensure_callback_slots(tomorrow())
    finally:
        await bo.close()


_TEMPLATE: list[Path] = []


@pytest.fixture(scope="session")
def office_template(tmp_path_factory) -> Path:
    # Test modules re-export this fixture, which gives each module its own instance: build once.
    if not _TEMPLATE:
        path = tmp_path_factory.mktemp("office") / "template.sqlite3"
        asyncio.run(build_template(path))
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


def throwaway(bo: Backoffice) -> Backoffice:
    """A copy that lives for one test need not survive a power cut: skip its syncs to disk."""

    def _no_sync(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()

    event.listen(bo.db.sqlite_engine, "connect", _no_sync)
    return bo


def copy_of(template: Path, path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, path)
    for suffix in ("-wal", "-shm"):
        # Closing the last connection folds the log into the file; copy it too if it is still there.
        companion = template.with_name(template.name + suffix)
        if companion.exists():
            shutil.copyfile(companion, path.with_name(path.name + suffix))
    return f"sqlite:///{path}"


@pytest.fixture
async def office(office_template, db_url, tmp_path):
    """A real back office with the retail store, the seeded systems and open callback slots."""
    policy = GovernancePolicy(backoff_s=0.0)
    if db_url.startswith("sqlite"):
        bo = throwaway(Backoffice(copy_of(office_template, tmp_path / "office.sqlite3"), timeout_s=0.5, policy=policy))
    else:
        bo = await Backoffice(db_url, timeout_s=0.5, policy=policy).open()
        await bo.import_data(seeded_data())
        await bo.ensure_callback_slots(tomorrow())
    try:
        yield bo
    finally:
        await bo.close()


# ------------------------------------------------------------------ finding records to work on


async def subscriber(bo: Backoffice, *, plan: str = "basic", status: str = "active", with_phone: bool = True) -> str:
    async with bo.db.read() as conn:
        rows = (
            await conn.execute(
                select(billing.subscriptions.c.user_id)
                .where(billing.subscriptions.c.plan_id == plan, billing.subscriptions.c.status == status)
                .order_by(billing.subscriptions.c.user_id)
            )
        ).all()
        for row in rows:
            account = await identity.get_account(conn, row.user_id)
            if account.locked or (with_phone and not account.phone):
                continue
            return row.user_id
    raise LookupError(f"no {status} {plan} subscriber")


async def account_holder(
    bo: Backoffice, *, phone: bool = True, locked: bool = False, skip: int = 0
) -> identity.Account:
    async with bo.db.read() as conn:
        rows = (await conn.execute(select(identity.accounts).order_by(identity.accounts.c.user_id))).all()
    found = [
        identity.Account.model_validate(dict(r._mapping))
        for r in rows
        if bool(r.phone) == phone and bool(r.locked) == locked
    ]
    return found[skip]


async def delivered_order(
    bo: Backoffice, *, method: str | None = None, under: float | None = None, over: float | None = None, skip: int = 0
) -> dict:
    """A delivered order paid once, with a single-item line cheaper than `under` (or dearer than `over`)."""
    found = []
    async with bo.db.read() as conn:
        rows = (
            await conn.execute(
                select(retail.orders.c.order_id)
                .where(retail.orders.c.status == "delivered")
                .order_by(retail.orders.c.position)
            )
        ).all()
        for row in rows:
            order, _ = await retail.get_order(conn, row.order_id)
            history = order["payment_history"]
            if len(history) != 1 or history[0]["transaction_type"] != "payment":
                continue
            pm = history[0]["payment_method_id"]
            if method is not None and not pm.startswith(method):
                continue
            first = order["items"][0]
            if under is not None and first["price"] >= under:
                continue
            if over is not None and first["price"] <= over:
                continue
            variant = await retail.get_variant(conn, first["item_id"])
            if not variant["available"]:
                continue
            found.append(order)
            if len(found) > skip:
                return order
    raise LookupError("no delivered order like that")


async def next_slot(bo: Backoffice, skip: int = 0) -> str:
    async with bo.db.read() as conn:
        now = datetime.now(scheduler.BUSINESS_TZ)
        slots = await scheduler.available_slots(conn, after=now + timedelta(hours=2), until=now + timedelta(days=15))
    return slots[skip].slot_id
