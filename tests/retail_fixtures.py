"""Fixtures for the back-office tests: the retail store loaded once per run, copied for each test.

Loading db.json through the real import is the slow part of a back-office test, so it happens
once into a template database; every test gets its own copy of that (a file copy on SQLite,
`createdb --template` on PostgreSQL when FRONTDESK_TEST_PG=1). Test modules use these with
`pytest_plugins = ["tests.retail_fixtures"]`.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from actions.backoffice import Backoffice
from actions.paths import RETAIL_DB

PG = os.environ.get("FRONTDESK_TEST_PG") == "1"
_TEXT: str | None = None


def retail_json() -> dict:
    """db.json, freshly parsed (the text is read once)."""
    global _TEXT
    if _TEXT is None:
        _TEXT = RETAIL_DB.read_text(encoding="utf-8")
    return json.loads(_TEXT)


def run_sync(coro):
    """Run a coroutine to the end from synchronous code, whatever event loop is around."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _load(url: str) -> None:
    office = await Backoffice(url).open()
    try:
        await office.import_data(retail_json())
    finally:
        await office.close()


@pytest.fixture
def db_json() -> dict:
    """This test's own parsed copy of db.json: the state every test's database starts in."""
    return retail_json()


@pytest.fixture(scope="session")
def retail_template(tmp_path_factory) -> str:
    """A database holding db.json, loaded through the back office's own import."""
    if PG:
        from tests.pg import fresh_database

        url = fresh_database()
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('template') / 'retail.sqlite3'}"
    run_sync(_load(url))
    return url


@pytest.fixture
def retail_url(retail_template, tmp_path) -> str:
    """A database of this test's own, holding db.json as imported."""
    if PG:
        from tests.pg import fresh_database

        return fresh_database(template=retail_template)
    source = Path(make_url(retail_template).database)
    target = tmp_path / "store.sqlite3"
    for suffix in ("", "-wal"):  # the template is closed, so its log is normally folded in already
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")
    return f"sqlite:///{target}"


@pytest.fixture
async def retail_office(retail_url):
    """A back office on this test's copy of the store (the same shape the `backoffice` fixture gives)."""
    office = Backoffice(retail_url, timeout_s=0.3)
    await office.open()
    try:
        yield office
    finally:
        await office.close()
