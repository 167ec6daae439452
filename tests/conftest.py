"""Shared fixtures: a real back office on a fresh SQLite file (or PostgreSQL), loaded from db.json."""

from __future__ import annotations

import copy
import json
import os

import pytest

# Before anything imports pipecat: its frames bind time.time on import, and the phone tests run calls
# on the virtual clock (tests.virtual_phone), whose time.time that must be.
import replay.clock  # noqa: F401  isort: skip

from actions.backoffice import Backoffice
from actions.models import Actor, CallContext, IdentityLevel
from actions.paths import RETAIL_DB

# Shared fixtures: the retail store copied per test, and the seeded back office.
pytest_plugins = ["tests.retail_fixtures", "tests.office"]

_DATA: dict | None = None


def retail_data() -> dict:
    """A fresh deep copy of the retail store (parsed once per test session)."""
    global _DATA
    if _DATA is None:
        _DATA = json.loads(RETAIL_DB.read_text(encoding="utf-8"))
    return copy.deepcopy(_DATA)


@pytest.fixture
def data() -> dict:
    return retail_data()


@pytest.fixture
def db_url(tmp_path) -> str:
    """SQLite by default; a database on a local PostgreSQL server when FRONTDESK_TEST_PG=1."""
    if os.environ.get("FRONTDESK_TEST_PG") == "1":
        from tests.pg import fresh_database

        return fresh_database()
    return f"sqlite:///{tmp_path / 'backoffice.sqlite3'}"


@pytest.fixture
async def backoffice(db_url, data):
    bo = Backoffice(db_url, timeout_s=0.3)
    await bo.open()
    await bo.import_data(data)
    try:
        yield bo
    finally:
        await bo.close()


def customer(
    user_id: str,
    *,
    level: IdentityLevel = IdentityLevel.basic,
    confirmed: bool = False,
    key: str | None = None,
    approval_id: str | None = None,
) -> CallContext:
    return CallContext(
        actor=Actor(kind="customer", user_id=user_id, identity_level=level),
        confirmed=confirmed,
        idempotency_key=key,
        approval_id=approval_id,
    )
