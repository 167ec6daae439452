"""The agent console against a real server: tokens, the hand-off queue with its summary, taking a chat
and replying live, handing back and closing, and the approval queue delivering a verified result to
the customer's open chat."""

from __future__ import annotations

import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.chat_support import (
    ADMIN_TOKEN,
    AGENT_TOKEN,
    Customer,
    agent,
    answer_until,
    bearer,
    big_delivered_order,
    customer,
    http,
    pending_orders,
    running,
)


@pytest.fixture
async def server(backoffice):
    async with running(backoffice) as s:
        yield s


async def hand_off(c: Customer, data: dict, order: dict) -> dict:
    """The customer identifies, starts a request, then asks for a person; returns the handoff frame."""
    user = data["users"][order["user_id"]]
    await c.say(f"I want to cancel order {order['order_id']}")
    await c.say(user["email"])
    turn = await c.say("actually, let me talk to a person please")
    handoff = next(f for f in turn if f["type"] == "handoff")
    assert c.state["mode"] == "agent" and c.state["outcome"] == "handed_off"
    return handoff


async def test_agent_routes_without_the_token_show_no_customer_data(server, data):
    order = pending_orders(data)[20]
    user = data["users"][order["user_id"]]
    async with customer(server) as c, http(server) as client:
        await hand_off(c, data, order)
        page = await client.get("/agent")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert 'id="sign-in"' in page.text and 'type="password"' in page.text
        for secret in (user["email"], user["user_id"], order["order_id"], c.session_id):
            assert secret not in page.text

        for headers in ({}, bearer("wrong"), {"Authorization": f"Basic {AGENT_TOKEN}"}, {"Authorization": "Bearer"}):
            r = await client.get("/agent/api/queue", headers=headers)
            assert r.status_code == 401 and r.json()["detail"]
            assert user["user_id"] not in r.text
        r = await client.post(f"/agent/api/sessions/{c.session_id}/take", headers=bearer("nope"), json={})
        assert r.status_code == 401
        assert (await client.get("/agent/api/queue", headers=bearer(AGENT_TOKEN))).status_code == 200
        assert (await client.get("/agent/api/queue", headers=bearer(ADMIN_TOKEN))).status_code == 200

    for url in (f"{server.ws}/agent/ws", f"{server.ws}/agent/ws?token=wrong"):
        async with connect(url) as ws:
            if "token=" not in url:
                await ws.send(json.dumps({"type": "auth", "token": "wrong", "name": "Eve"}))
            refused = json.loads(await ws.recv())
            assert refused == {"type": "error", "code": "unauthorized", "message": refused["message"]}
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd.code == 1008
    async with connect(f"{server.ws}/agent/ws?token={AGENT_TOKEN}&name=Sam") as ws:
        assert json.loads(await ws.recv()) == {"type": "ready", "agent": "Sam", "role": "agent"}


async def test_a_handoff_reaches_the_console_and_the_agent_takes_over_live(server, data):
    order = pending_orders(data)[21]
    user = data["users"][order["user_id"]]
    async with agent(server, "Maria") as desk, customer(server) as c:
        handoff = await hand_off(c, data, order)
        summary = handoff["summary"]
        assert summary["session_id"] == c.session_id and summary["reason"] == "customer_request"
        assert summary["identity_level"] == "basic" and summary["customer"]["user_id"] == user["user_id"]

        # The queue is pushed to the console with the structured summary.
        await desk.until(lambda f: f["type"] == "queue" and any(i["session_id"] == c.session_id for i in f["items"]))
        item = next(i for i in desk.queue if i["session_id"] == c.session_id)
        assert item["agent"] is None and item["mode"] == "agent"
        s = item["summary"]
        assert s["customer"]["user_id"] == user["user_id"] and s["identity_level"] == "basic"
        assert "cancel_order" in s["intents"] and s["slots"]["order_id"] == order["order_id"]
        assert s["issue_summary"] and s["recommended_next_step"] and "transcript" not in s

        await desk.send(type="open", session_id=c.session_id)
        opened = await desk.until(lambda f: f["type"] == "conversation")
        assert opened["summary"]["transcript"] and opened["transcript"][0]["role"] == "bot"
        assert any(order["order_id"] in line["text"] for line in opened["transcript"])

        await desk.send(type="take", session_id=c.session_id)
        done = await desk.until(lambda f: f["type"] == "done")
        assert done["action"] == "take" and done["mode"] == "agent"
        joined = await c.read_turn()
        assert "Maria" in " ".join(f["text"] for f in joined if f["type"] == "message")
        assert c.state["mode"] == "agent" and c.state["agent"] == "Maria"

        # What the customer writes now goes to the console, and the bot stays quiet.
        turn = await c.say("hi, are you there?")
        assert [f["type"] for f in turn] == ["state", "turn_end"]
        line = await desk.until(lambda f: f["type"] == "line" and f["role"] == "customer")
        assert line == {**line, "session_id": c.session_id, "text": "hi, are you there?"}

        await desk.send(type="reply", session_id=c.session_id, text="Hi, I'm Maria. I can see your order.")
        reply = await c.read_turn()
        message = next(f for f in reply if f["type"] == "message")
        assert message["role"] == "agent" and message["text"] == "Hi, I'm Maria. I can see your order."

        await desk.send(type="hand_back", session_id=c.session_id)
        back = await c.read_turn()
        assert c.state["mode"] == "bot" and all(f["role"] == "bot" for f in back if f["type"] == "message")
        await desk.until(lambda f: f["type"] == "queue" and all(i["session_id"] != c.session_id for i in f["items"]))
        # The bot answers again.
        await c.say(f"cancel order {order['order_id']}")
        assert c.messages and c.messages[0]["role"] == "bot"


async def test_the_agent_closes_a_chat(server, data):
    async with agent(server) as desk, customer(server) as c:
        await hand_off(c, data, pending_orders(data)[22])
        await desk.send(type="close", session_id=c.session_id)
        await desk.until(lambda f: f["type"] == "done" and f["action"] == "close")
        await c.read_turn()
        assert c.state["mode"] == "closed"


async def test_every_tab_of_the_customer_sees_the_agent(server, data):
    async with agent(server) as desk, customer(server) as c:
        await hand_off(c, data, pending_orders(data)[23])
        async with customer(server, session_id=c.session_id) as tab:
            assert tab.state["mode"] == "agent"
            # Replying to a chat nobody has taken takes it first: the customer is told who joined.
            await desk.send(type="reply", session_id=c.session_id, text="Hello from the team")
            for socket in (c, tab):
                joined = await socket.read_turn()
                assert "has joined" in " ".join(f["text"] for f in joined if f["type"] == "message")
                said = await socket.read_turn()
                assert [(f["role"], f["text"]) for f in said if f["type"] == "message"] == [
                    ("agent", "Hello from the team")
                ]


async def test_the_console_api_over_rest(server, data):
    async with customer(server) as c, http(server, headers=bearer()) as client:
        await hand_off(c, data, pending_orders(data)[24])
        queue = (await client.get("/agent/api/queue")).json()
        assert any(i["session_id"] == c.session_id for i in queue["items"])
        r = await client.post(f"/agent/api/sessions/{c.session_id}/take", json={"agent": "Lee"})
        assert r.status_code == 200 and r.json()["mode"] == "agent"
        await c.read_turn()
        r = await client.post(f"/agent/api/sessions/{c.session_id}/messages", json={"agent": "Lee", "text": "On it"})
        assert r.status_code == 200
        frames = await c.read_turn()
        assert any(f.get("role") == "agent" and f["text"] == "On it" for f in frames)
        conversation = (await client.get(f"/agent/api/sessions/{c.session_id}")).json()
        assert conversation["agent"] == "Lee" and conversation["transcript"][-1]["text"] == "On it"
        assert conversation["transcript"][-1]["agent"] == "Lee"
        # Bad bodies and unknown sessions are 4xx with a message.
        assert (await client.post(f"/agent/api/sessions/{c.session_id}/messages", json={})).status_code == 422
        r = await client.post("/agent/api/sessions/nope-nope-nope/take", json={})
        assert r.status_code == 404 and r.json()["detail"]
        assert (await client.post("/agent/api/approvals/AP-NOPE", json={"approve": True})).status_code == 404


async def test_console_api_bodies_must_be_json_objects_sent_as_json(server, data):
    async with customer(server) as c, http(server, headers=bearer()) as client:
        await hand_off(c, data, pending_orders(data)[26])
        messages = f"/agent/api/sessions/{c.session_id}/messages"
        r = await client.post(messages, content=b'{"text": "On it"}', headers={"content-type": "text/plain"})
        assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type" and r.json()["detail"]
        r = await client.post(messages, content=b'{"text": "On it"}')  # no content type
        assert r.status_code == 415
        r = await client.post(messages, content=b'{"text": "\\ud800"}', headers={"content-type": "application/json"})
        assert r.status_code == 400 and r.json()["code"] == "bad_body" and r.json()["detail"]
        r = await client.post(messages, json={"text": "x" * 5000})
        assert r.status_code == 413 and r.json()["code"] == "too_large"
        # Nothing refused reached the customer; the body of take is optional.
        r = await client.post(f"/agent/api/sessions/{c.session_id}/take")
        assert r.status_code == 200 and r.json()["mode"] == "agent"
        joined = await c.read_turn()
        assert [f["role"] for f in joined if f["type"] == "message"] == ["bot"]
        r = await client.post("/agent/api/approvals/AP-NOPE", content=b"approve=1", headers={
            "content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert r.status_code == 415
        # Without the token, nothing about the body is looked at.
        r = await client.post(messages, json={"text": "hi"}, headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401 and r.json()["code"] == "unauthorized"


async def test_a_console_frame_with_a_lone_surrogate_is_a_bad_frame(server, data):
    async with agent(server) as desk, customer(server) as c:
        await hand_off(c, data, pending_orders(data)[27])
        frame = json.dumps({"type": "reply", "session_id": c.session_id, "text": "@"}).replace("@", "\\ud800")
        await desk.ws.send(frame)
        error = await desk.until(lambda f: f["type"] == "error")
        assert error["code"] == "bad_frame"
        await desk.send(type="reply", session_id=c.session_id, text="Still here")
        await desk.until(lambda f: f["type"] == "done" and f["action"] == "reply")


async def test_card_numbers_typed_to_an_agent_are_masked_on_the_console(server, data):
    async with agent(server) as desk, customer(server) as c:
        await hand_off(c, data, pending_orders(data)[25])
        await c.say("my card is 4111 1111 1111 1111")
        line = await desk.until(lambda f: f["type"] == "line" and f["role"] == "customer")
        assert "4111 1111 1111 1111" not in line["text"] and "1111" in line["text"]


# ---------------------------------------------------------------------------------------------- approvals


async def to_approval(c: Customer, data: dict, order: dict) -> str:
    """Report a missing package, ask for a refund, say yes: the refund waits for a person's approval."""
    user = data["users"][order["user_id"]]
    await c.say(f"my package never arrived, it was order {order['order_id']}")
    await answer_until(
        c,
        {
            "identity": user["email"],
            "order_id": {"choice": order["order_id"]},
            "resolution": "I would like the money back",
        },
    )
    assert c.expects == "confirmation", c.text
    await c.choose("yes")
    assert c.state["outcome"] == "pending_approval", c.text
    return c.state["pending_approval"]["approval_id"]


@pytest.mark.parametrize("approve", [True, False])
async def test_an_approval_decided_on_the_console_reaches_the_customer_live(server, backoffice, data, approve):
    order = big_delivered_order(data)
    async with agent(server, "Lead") as desk, customer(server) as c:
        approval_id = await to_approval(c, data, order)
        assert approval_id in c.text
        before = await backoffice.export_data()

        await desk.until(
            lambda f: f["type"] == "approvals" and any(a["approval_id"] == approval_id for a in f["items"])
        )
        item = next(a for a in desk.approvals if a["approval_id"] == approval_id)
        assert item["tool"] == "refund_package" and item["session_id"] == c.session_id
        assert item["arguments"]["order_id"] == order["order_id"] and item["arguments"]["amount"] > 100
        assert item["customer"]["user_id"] == order["user_id"]

        await desk.send(type="decide", approval_id=approval_id, approve=approve, note="checked the tracking")
        done = await desk.until(lambda f: f["type"] == "done")
        assert done == {**done, "approval_id": approval_id, "delivered": True, "session_id": c.session_id}
        await desk.until(
            lambda f: f["type"] == "approvals" and not any(a["approval_id"] == approval_id for a in f["items"])
        )

        await c.read_turn()
        after = await backoffice.export_data()
        if approve:
            action = c.state["actions"][-1]
            assert action["tool"] == "refund_package" and action["verified"] is True
            assert action["confirmation_id"] in c.text and "approved" in c.text
            assert c.state["outcome"] == "resolved"
            assert after["orders"][order["order_id"]] != before["orders"][order["order_id"]]
        else:
            assert "couldn't approve" in c.text and "checked the tracking" in c.text
            assert not any(a["tool"] == "refund_package" and a["verified"] for a in c.state["actions"])
            assert after["orders"][order["order_id"]] == before["orders"][order["order_id"]]

        # Deciding twice is refused plainly.
        await desk.send(type="decide", approval_id=approval_id, approve=True)
        error = await desk.until(lambda f: f["type"] == "error")
        assert error["code"] == "already_decided"
