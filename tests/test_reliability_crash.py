"""Crash and resume: `frontdesk serve` killed with SIGKILL in the middle of write conversations.

One real server process on its own SQLite store; a customer chats over /chat/ws; the process is
killed at a chosen point (while a turn is answered, right after the yes, between a write and its
verification read, between two steps of a saga); a new process starts on the same store and the
customer comes back with `?session_id=`. The conversation must pick up where the customer last saw
it, finish, and leave the write made exactly once and verified, or flagged by reconcile, and the
customer must never have been told "done" for something the systems do not show.

`bench/reliability_crash.py` runs many random kill points; these are a few fixed ones.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from actions.backoffice import Backoffice
from tests import reliability_support as rs


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("reliability-crash")


@pytest.fixture(scope="module")
def template(workdir) -> Path:
    return asyncio.run(rs.build_template(workdir / "template.sqlite3"))


@pytest.fixture(scope="module")
def server(template, workdir):
    """One store for the whole module; its server is killed and restarted by every test."""
    store = workdir / "store.sqlite3"
    server = rs.ServeProcess(rs.copy_template(template, store), workdir)
    asyncio.run(server.start())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def reader(server):
    bo = await Backoffice(server.db_url).open()
    try:
        yield bo
    finally:
        await bo.close()


async def crash(server, reader, template, workdir, name: str, point) -> rs.CrashResult:
    scenario = rs.BY_NAME[name]
    before = await reader.export_data()
    used = frozenset(s.identity.user_id for s in await _sessions(reader) if s.identity.user_id)
    pick = scenario.pick(before, used)
    clean = await rs.clean_run(template, workdir, scenario, pick, before)
    kill = point(scenario, clean) if callable(point) else point
    return await rs.crash_case(server, reader, scenario, pick, kill, before=before, clean_after=clean.after)


async def _sessions(bo):
    from dialogue.store import SessionStore

    return await SessionStore(bo.db).list_by(limit=10_000)


def assert_recovered(result: rs.CrashResult) -> None:
    v = result.verdict
    assert result.broken is None, result.broken
    assert result.resumed, "the chat could not be resumed by its session id after the restart"
    assert not result.lost_state, result.lost_state
    assert v is not None
    assert not v.false_claim, f"told done but {v.outcome}: {v.detail}"
    assert not v.double_write, f"written twice: {v.detail}"
    assert not v.unflagged, f"{v.outcome} and reconcile says nothing: {v.detail}"
    # The customer finished the conversation: the confirmed change is made once, verified and said.
    assert v.outcome == "applied" and v.told_done and v.verified, v


async def test_killed_between_the_write_and_its_verification(server, reader, template, workdir):
    result = await crash(
        server,
        reader,
        template,
        workdir,
        "cancel order",
        rs.KillPoint("write-verify", fault="retail.verify:slow:x1:3s"),
    )
    assert result.killed_in_turn, "the kill should land inside the write turn"
    assert_recovered(result)


async def test_killed_between_two_saga_steps(server, reader, template, workdir):
    # The plan has changed (and been verified); the CRM note is held back when the process dies.
    point = rs.KillPoint("write-verify", fault="crm.crm_note:slow:x1:3s", step=":change_plan", delay_s=0.3)
    result = await crash(server, reader, template, workdir, "subscription upgrade", point)
    assert result.killed_in_turn
    assert_recovered(result)


async def test_killed_while_a_question_is_answered(server, reader, template, workdir):
    rng = random.Random(7)
    result = await crash(
        server,
        reader,
        template,
        workdir,
        "return",
        lambda scenario, clean: rs.KillPoint("turn", turn=max(1, clean.sends_before_yes), delay_s=rng.uniform(0, 0.2)),
    )
    assert_recovered(result)
