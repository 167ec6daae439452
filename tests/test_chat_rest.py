"""The same dialogue over REST (`/chat/sessions...`) against a real server: the conversation to a
verified outcome, the stored transcript, and bad requests answered with a 4xx and a message."""

from __future__ import annotations

import pytest

from tests.chat_support import chat_config, customer, http, pending_orders, running


@pytest.fixture
async def server(backoffice):
    async with running(backoffice) as s:
        yield s


async def say(client, sid: str, **body) -> dict:
    r = await client.post(f"/chat/sessions/{sid}/messages", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert set(answer) >= {"messages", "state", "handoff"}
    return answer


async def test_rest_conversation_cancels_an_order_with_a_verified_confirmation(server, backoffice, data):
    order = pending_orders(data)[10]
    user = data["users"][order["user_id"]]
    async with http(server) as client:
        r = await client.post("/chat/sessions", json={"language": "en"})
        assert r.status_code == 200
        started = r.json()
        sid = started["session_id"]
        assert len(sid) >= 22 and started["messages"][0]["role"] == "bot"
        assert set(started["messages"][0]) >= {"role", "text", "language", "choices", "expects"}

        answer = await say(client, sid, text=f"I want to cancel order {order['order_id']}")
        assert answer["state"]["expects"] == "identity"
        answer = await say(client, sid, text=user["email"])
        for _ in range(4):
            expects = answer["state"]["expects"]
            if expects == "reason":
                answer = await say(client, sid, text="ordered by mistake")
            elif expects == "order_id":
                answer = await say(client, sid, choice=order["order_id"])
            else:
                break
        assert answer["state"]["expects"] == "confirmation"
        assert [c["value"] for m in answer["messages"] for c in m["choices"]] == ["yes", "no"]
        answer = await say(client, sid, choice="yes")
        assert answer["handoff"] is None
        action = answer["state"]["actions"][-1]
        assert action["verified"] and action["confirmation_id"] in " ".join(m["text"] for m in answer["messages"])
        assert (await backoffice.export_data())["orders"][order["order_id"]]["status"] == "cancelled"

        stored = (await client.get(f"/chat/sessions/{sid}")).json()
        assert stored["session_id"] == sid and stored["state"]["outcome"] == "resolved"
        roles = [t["role"] for t in stored["transcript"]]
        assert roles[0] == "bot" and "customer" in roles
        assert any(action["confirmation_id"] in t["text"] for t in stored["transcript"])


async def test_rest_and_websocket_are_one_conversation(server, data):
    order = pending_orders(data)[11]
    async with customer(server) as c, http(server) as client:
        answer = await say(client, c.session_id, text=f"cancel order {order['order_id']}")
        # The open socket of the same session sees the turn taken over REST.
        turn = await c.read_turn()
        assert [f["text"] for f in turn if f["type"] == "message"] == [m["text"] for m in answer["messages"]]


async def test_asking_for_a_person_over_rest_returns_the_handoff_summary(server):
    async with http(server) as client:
        sid = (await client.post("/chat/sessions")).json()["session_id"]
        answer = await say(client, sid, text="I want to talk to a person")
        assert answer["handoff"]["session_id"] == sid and answer["handoff"]["reason"] == "customer_request"
        assert answer["state"]["outcome"] == "handed_off"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b"{}", 422),
        (b'{"text": "hi", "choice": "yes"}', 422),
        (b'{"text": 12}', 422),
        (b'{"txt": "hi"}', 422),
        (b'{"choice": ""}', 422),
        (('{"text": "' + "x" * 5000 + '"}').encode(), 413),
        (b"x" * 100_000, 413),
    ],
)
async def test_bad_message_bodies_get_a_4xx_with_a_message(server, body, status):
    async with http(server) as client:
        sid = (await client.post("/chat/sessions")).json()["session_id"]
        headers = {"content-type": "application/json"}
        r = await client.post(f"/chat/sessions/{sid}/messages", content=body, headers=headers)
        assert r.status_code == status
        assert r.json()["detail"]
        # Nothing was lost: the conversation still answers.
        assert (await say(client, sid, text="hello"))["messages"]


@pytest.mark.parametrize("body", [b"nope", b'{"language": 5}', b'{"language": "english please"}', b'"en"'])
async def test_bad_start_bodies_get_a_4xx(server, body):
    async with http(server) as client:
        r = await client.post("/chat/sessions", content=body, headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500 and r.json()["detail"]


async def test_unknown_sessions_are_404_whatever_the_id_looks_like(server):
    async with http(server) as client:
        for sid in ["A" * 32, "nope", "x" * 500, "%2e%2e", "bad id"]:
            assert (await client.get(f"/chat/sessions/{sid}")).status_code == 404
            r = await client.post(f"/chat/sessions/{sid}/messages", json={"text": "hi"})
            assert r.status_code == 404 and r.json()["code"] == "unknown_session"


async def test_rest_messages_are_rate_limited_with_429(backoffice):
    async with running(backoffice, chat_config(session_rate=0.001, session_burst=2)) as s, http(s) as client:
        sid = (await client.post("/chat/sessions")).json()["session_id"]
        for _ in range(2):
            await say(client, sid, text="hello")
        r = await client.post(f"/chat/sessions/{sid}/messages", json={"text": "hello"})
        assert r.status_code == 429 and r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1


async def test_language_is_taken_from_the_start_body(server):
    async with http(server) as client:
        started = (await client.post("/chat/sessions", json={"language": "es"})).json()
        assert started["messages"][0]["language"] == "es"
        assert started["state"]["language"] == "es"
