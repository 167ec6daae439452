"""The website chat over WebSockets against a real server, the real dialogue engine and the real back
office loaded from db.json: whole conversations, bad frames, resuming, tabs, origins and limits."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.chat_support import chat_config, customer, http, pending_orders, running, to_readback
from tests.dialogue_support import confirmation_ids


@pytest.fixture
async def server(backoffice):
    async with running(backoffice) as s:
        yield s


async def test_a_whole_conversation_cancels_an_order_and_quotes_the_verified_confirmation(server, backoffice, data):
    order = pending_orders(data)[0]
    async with customer(server) as c:
        opening = c.frames
        assert [f["type"] for f in opening] == ["session", "message", "state", "turn_end"]
        assert opening[1]["role"] == "bot" and opening[1]["language"] == "en"
        assert set(opening[1]) >= {"type", "role", "text", "language", "choices", "expects"}
        assert len(c.session_id) >= 22  # 128 bits or more in URL-safe base64

        await to_readback(c, data, order)
        assert order["order_id"] in c.text
        assert [ch["value"] for ch in c.choices] == ["yes", "no"]
        # Nothing is written before the yes.
        assert (await backoffice.export_data())["orders"][order["order_id"]]["status"] == "pending"

        turn = await c.choose("yes")
        types = [f["type"] for f in turn]
        assert types[-2:] == ["state", "turn_end"] and set(types[:-2]) == {"message"}
        assert (await backoffice.export_data())["orders"][order["order_id"]]["status"] == "cancelled"
        action = c.state["actions"][-1]
        assert action["tool"] == "cancel_pending_order" and action["verified"] is True
        assert action["confirmation_id"] and action["confirmation_id"] in c.text
        assert confirmation_ids(c.text) == [action["confirmation_id"]]
        assert c.state["outcome"] == "resolved"
        assert c.state["identity_level"] == "basic" and c.state["intent"] is None
        # The state is the customer's decisions and evidence, not the server's working memory.
        assert "context" not in c.state


async def test_the_state_frame_tracks_intent_identity_and_slots(server, data):
    order = pending_orders(data)[1]
    user = data["users"][order["user_id"]]
    async with customer(server) as c:
        await c.say(f"cancel order {order['order_id']}")
        assert c.state["intent"] == "cancel_order" and c.state["identity_level"] == "none"
        assert c.state["slots"].get("order_id") == order["order_id"]
        await c.say(user["email"])
        assert c.state["identity_level"] == "basic" and c.state["identity"]["user_id"] == user["user_id"]
        assert c.state["outcome"] == "in_progress"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("this is not json", "bad_frame"),
        ("[1, 2, 3]", "bad_frame"),
        (json.dumps({"type": "shout", "text": "hi"}), "bad_frame"),
        (json.dumps({"type": "message"}), "bad_frame"),
        (json.dumps({"type": "message", "text": 42}), "bad_frame"),
        (json.dumps({"type": "choice", "value": ""}), "bad_frame"),
        # A lone surrogate escape is no text at all: nothing could store or show it.
        ('{"type": "message", "text": "\\ud800"}', "bad_frame"),
        ('{"type": "message", "text": "hi \\udfff there"}', "bad_frame"),
        (json.dumps({"type": "message", "text": "x" * 4097}), "too_large"),
        (json.dumps({"type": "message", "text": "é" * 2049}), "too_large"),  # 4098 bytes in UTF-8
        ("x" * 20_000, "too_large"),
    ],
)
async def test_bad_frames_get_an_error_and_turn_end_and_the_conversation_goes_on(server, data, raw, code):
    order = pending_orders(data)[2]
    async with customer(server) as c:
        await c.say(f"cancel order {order['order_id']}")
        question = c.text
        await c.ws.send(raw)
        turn = await c.read_turn()
        assert [f["type"] for f in turn] == ["error", "turn_end"]
        assert turn[0]["code"] == code and turn[0]["message"]
        # Nothing was lost: the same question is still pending and the next answer is taken.
        await c.say("sorry, can you repeat that")
        assert c.text == question
        await c.say(data["users"][order["user_id"]]["email"])
        assert c.state["identity_level"] == "basic"


async def test_a_message_of_exactly_the_limit_is_accepted(server):
    async with customer(server) as c:
        turn = await c.say("a" * 4096)
        assert "error" not in [f["type"] for f in turn]
        assert c.messages


async def test_a_binary_frame_closes_the_socket_with_1003(server):
    async with customer(server) as c:
        await c.ws.send(b"\x00\x01binary")
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await c.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


async def test_an_unknown_session_id_gets_an_error_then_a_fresh_session(server):
    async with customer(server, session_id="n0-such-session-id-at-all-xxxxxxxx") as c:
        assert c.frames[0] == {"type": "error", "code": "unknown_session", "message": c.frames[0]["message"]}
        assert c.frames[1]["type"] == "session" and not c.frames[1].get("resumed")
        assert c.session_id != "n0-such-session-id-at-all-xxxxxxxx"
        assert c.messages and c.frames[-1]["type"] == "turn_end"
    for weird in ["%00", "x" * 300, "../../etc/passwd", "a b"]:
        async with connect(f"{server.ws}/chat/ws?session_id={quote(weird)}") as ws:
            assert json.loads(await ws.recv())["code"] == "unknown_session"
            assert json.loads(await ws.recv())["type"] == "session"


async def test_reconnecting_resumes_and_repeats_the_pending_question(server, data):
    order = pending_orders(data)[3]
    async with customer(server) as c:
        await to_readback(c, data, order)
        question = c.messages[-1]
        sid = c.session_id
    async with customer(server, session_id=sid) as again:
        assert again.frames[0] == {"type": "session", "session_id": sid, "resumed": True}
        assert again.messages[-1]["text"] == question["text"]
        assert again.messages[-1]["choices"] == question["choices"]
        assert again.messages[-1]["expects"] == "confirmation"
        assert again.frames[-1]["type"] == "turn_end"
        await again.choose("yes")
        assert c.state["outcome"] == "in_progress"  # the old socket saw nothing more
        assert again.state["outcome"] == "resolved"


async def test_two_sockets_on_one_session_both_receive_every_turn(server, data):
    order = pending_orders(data)[4]
    user = data["users"][order["user_id"]]
    async with customer(server) as first:
        await first.say(f"cancel order {order['order_id']}")
        async with customer(server, session_id=first.session_id) as second:
            assert second.resumed
            await first.say(user["email"])
            seen = await second.read_turn()
            assert seen == first.turn
            await second.say("no longer needed")
            assert await first.read_turn() == second.turn
            assert second.expects == "confirmation" and first.expects == "confirmation"


async def test_sessions_are_isolated_from_each_other(server, data):
    order = pending_orders(data)[5]
    user = data["users"][order["user_id"]]
    async with customer(server) as alice, customer(server) as bob:
        assert alice.session_id != bob.session_id
        await alice.say(f"cancel order {order['order_id']}")
        await alice.say(user["email"])
        await bob.say("hello")
        # Alice's turns were over before Bob spoke, so anything fanned out to him would sit before his turn.
        assert [f["type"] for f in bob.frames].count("session") == 1
        assert [f["type"] for f in bob.frames].count("turn_end") == 2
        frames = json.dumps(bob.frames)
        assert user["email"] not in frames and user["user_id"] not in frames and order["order_id"] not in frames


async def test_an_origin_that_is_not_allowed_is_refused(server):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{server.ws}/chat/ws", origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    # The page's own origin (same host) is always welcome.
    async with connect(f"{server.ws}/chat/ws", origin=server.url) as ws:
        assert json.loads(await ws.recv())["type"] == "session"


async def test_configured_origins_are_allowed(backoffice):
    async with running(backoffice, chat_config(allowed_origins=["https://shop.example"])) as s:
        async with connect(f"{s.ws}/chat/ws", origin="https://shop.example") as ws:
            assert json.loads(await ws.recv())["type"] == "session"
        with pytest.raises(InvalidStatus):
            async with connect(f"{s.ws}/agent/ws", origin="https://other.example"):
                pass


async def test_too_many_messages_in_a_session_are_rate_limited_with_a_clear_error(backoffice):
    config = chat_config(session_rate=0.001, session_burst=3)
    async with running(backoffice, config) as s, customer(s) as c:
        for _ in range(3):
            turn = await c.say("hello")
            assert "error" not in [f["type"] for f in turn]
        turn = await c.say("hello again")
        assert [f["type"] for f in turn] == ["error", "turn_end"]
        assert turn[0]["code"] == "rate_limited" and "wait" in turn[0]["message"]
        assert turn[0]["retry_after"] > 0
        # Another conversation is not held back by this one.
        async with customer(s) as other:
            assert "error" not in [f["type"] for f in await other.say("hello")]


async def test_one_address_opening_too_many_sessions_is_rate_limited(backoffice):
    async with running(backoffice, chat_config(address_rate=0.001, address_burst=2)) as s:
        async with customer(s), customer(s):
            async with connect(f"{s.ws}/chat/ws") as ws:
                frame = json.loads(await ws.recv())
                assert frame["type"] == "error" and frame["code"] == "rate_limited"
                assert json.loads(await ws.recv())["type"] == "turn_end"


async def test_card_numbers_and_one_time_codes_are_masked_in_the_stored_transcript(server):
    async with customer(server) as c:
        await c.say("my card is 4242 4242 4242 4242 and it was charged twice")
        async with http(server) as client:
            stored = (await client.get(f"/chat/sessions/{c.session_id}")).json()
    said = [t["text"] for t in stored["transcript"] if t["role"] == "customer"]
    assert said and "4242 4242 4242 4242" not in said[0] and "•••• 4242" in said[0]
