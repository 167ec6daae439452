"""Several servers: two `frontdesk serve` processes on one PostgreSQL database (a real local server).

A chat started on one server is resumed on the other by its session id and finished there, with
its write made once. A hand-off made on server A reaches the agent console signed in on server B
(live and over REST); the agent's reply on B reaches the customer still connected to A, and the
customer's answer on A reaches the console on B.

Skipped only when the PostgreSQL server binaries are missing and FRONTDESK_REQUIRE_PG is not set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
from websockets.asyncio.client import connect

from actions.backoffice import Backoffice
from actions.systems import scheduler
from tests import reliability_support as rs
from tests.chat_support import Customer
from tests.office import seeded_data, tomorrow

pytestmark = pytest.mark.pg

RECV_S = 20.0


def _postgres_url() -> str:
    from tests.pg import PostgresUnavailable, fresh_database

    try:
        return fresh_database()
    except PostgresUnavailable as exc:
        if os.environ.get("FRONTDESK_REQUIRE_PG"):
            raise
        pytest.skip(f"PostgreSQL is not available here: {exc}")


@pytest.fixture(scope="module")
def database() -> str:
    url = _postgres_url()

    async def load() -> None:
        bo = await Backoffice(url).open()
        try:
            await bo.import_data(seeded_data())
            await bo.ensure_callback_slots(tomorrow())
        finally:
            await bo.close()

    asyncio.run(load())
    return url


@pytest.fixture(scope="module")
def servers(database, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("servers")
    a, b = rs.ServeProcess(database, workdir), rs.ServeProcess(database, workdir)

    async def both() -> None:
        await asyncio.gather(a.start(), b.start())

    try:
        asyncio.run(both())
        yield a, b
    finally:
        a.stop()
        b.stop()


@pytest.fixture
async def reader(database):
    bo = await Backoffice(database).open()
    try:
        yield bo
    finally:
        await bo.close()


@contextlib.asynccontextmanager
async def chat(server: rs.ServeProcess, session_id: str | None = None):
    query = f"?session_id={session_id}" if session_id else ""
    async with connect(f"{server.ws}/chat/ws{query}", max_size=2**22) as ws:
        customer = Customer(ws)
        await customer.opening()
        yield customer


@contextlib.asynccontextmanager
async def console(server: rs.ServeProcess, name: str = "Maria"):
    async with connect(f"{server.ws}/agent/ws", max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "auth", "token": rs.AGENT_TOKEN, "name": name}))
        frames: list[dict] = []

        async def until(predicate) -> dict:
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), RECV_S))
                frames.append(frame)
                if predicate(frame):
                    return frame

        await until(lambda f: f["type"] == "approvals")
        yield ws, until


async def test_two_servers_opening_the_same_days_at_once_both_start(database):
    # Both servers open the coming two weeks' callback slots as they start: the same rows, at once.
    start = tomorrow() + timedelta(days=60)
    offices = [await Backoffice(database).open() for _ in range(3)]
    try:
        added = await asyncio.gather(*(bo.ensure_callback_slots(start) for bo in offices))
        async with offices[0].db.read() as conn:
            slots = await scheduler.available_slots(
                conn,
                after=datetime.combine(start, time(), UTC),
                until=datetime.combine(start + timedelta(days=scheduler.HORIZON_DAYS + 1), time(), UTC),
                limit=10_000,
            )
    finally:
        for bo in offices:
            await bo.close()
    assert sum(added) == len(scheduler.slots_for(start))
    assert len({s.slot_id for s in slots}) == len(scheduler.slots_for(start))


async def test_a_chat_started_on_one_server_is_finished_on_the_other(servers, reader):
    a, b = servers
    before = await reader.export_data()
    scenario = rs.BY_NAME["cancel order"]
    pick = scenario.pick(before, frozenset())
    async with chat(a) as customer:
        drive = rs.Drive(customer, reader, pick)
        await drive.send(scenario.opening(pick))
        while customer.expects != "confirmation":
            reply = await rs.next_reply(drive, scenario)
            assert reply is not None, customer.text
            await drive.send(reply)
        readback = customer.text
        session_id = customer.session_id
    async with chat(b, session_id) as customer:
        assert customer.resumed and customer.session_id == session_id
        assert customer.expects == "confirmation" and pick.order_id in customer.text, "B repeats A's read-back"
        assert pick.order_id in readback
        await customer.choose("yes")
        assert customer.text.startswith("Done") and "cancelled" in customer.text
        action = customer.state["actions"][-1]
        assert action["verified"] and action["confirmation_id"] in customer.text
    after = await reader.export_data()
    order = after["orders"][pick.order_id]
    assert order["status"] == "cancelled"
    refunds = [p for p in order["payment_history"] if p["transaction_type"] == "refund"]
    assert len(refunds) == 1, "one cancellation, one refund"


async def test_handoff_queue_and_conversation_span_both_servers(servers, reader):
    a, b = servers
    before = await reader.export_data()
    scenario = rs.BY_NAME["hand-off ticket"]
    pick = scenario.pick(before, frozenset({rs.BY_NAME["cancel order"].pick(before, frozenset()).user_id}))
    async with console(b) as (agent_ws, until), chat(a) as customer:
        drive = rs.Drive(customer, reader, pick)
        await drive.send(scenario.opening(pick))
        while not drive.handoffs:
            reply = await rs.next_reply(drive, scenario)
            assert reply is not None, customer.text
            await drive.send(reply)
        session_id = customer.session_id

        # The console on B sees the hand-off made on A, live, with its summary.
        queued = await until(lambda f: f["type"] == "queue" and any(i["session_id"] == session_id for i in f["items"]))
        item = next(i for i in queued["items"] if i["session_id"] == session_id)
        assert item["summary"]["customer"]["user_id"] == pick.user_id
        async with httpx.AsyncClient(base_url=b.url, timeout=RECV_S) as client:
            answer = await client.get("/agent/api/queue", headers={"Authorization": f"Bearer {rs.AGENT_TOKEN}"})
        assert session_id in {i["session_id"] for i in answer.json()["items"]}

        # The agent on B takes the chat and replies; the customer, still on A, gets both.
        await agent_ws.send(json.dumps({"type": "take", "session_id": session_id}))
        await agent_ws.send(json.dumps({"type": "reply", "session_id": session_id, "text": "Hi, Maria here."}))
        await until(lambda f: f["type"] == "done" and f["action"] == "reply")
        seen: list[dict] = []
        while not any(f["type"] == "message" and f["role"] == "agent" and "Maria here" in f["text"] for f in seen):
            seen.append(await customer.recv())

        # The customer answers on A; the console on B sees the line, and nothing the agent did is lost.
        await customer.ws.send(json.dumps({"type": "message", "text": "thanks, it's about my order"}))
        line = await until(lambda f: f["type"] == "line" and f["role"] == "customer")
        assert line["session_id"] == session_id and "about my order" in line["text"]
    from dialogue.store import SessionStore

    state = await SessionStore(reader.db).load(session_id)
    assert state.mode == "agent" and state.agent == "Maria", "the take on B survived the turn on A"
