"""The same dialogue over REST (`/chat/sessions...`) against a real server: the conversation to a
verified outcome, the stored transcript, bad requests answered with a 4xx and a message (bodies that
are not JSON objects in UTF-8 sent as application/json among them), a server error answered in the
same shape, and the widget's cross-origin calls."""

from __future__ import annotations

import logging

import pytest

from tests.chat_support import bearer, chat_config, customer, http, pending_orders, running


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
    ("body", "status", "code"),
    [
        (b"not json", 400, "bad_body"),
        (b"[1, 2]", 400, "bad_body"),
        (b'{"text": "hi"', 400, "bad_body"),
        (b"[" * 5000, 400, "bad_body"),  # nested past any parser's depth
        # A lone surrogate escape decodes to no text an encoder can write; bytes that are not UTF-8 neither.
        (b'{"text": "\\ud800"}', 400, "bad_body"),
        (b'{"text": "tail \\udc00"}', 400, "bad_body"),
        ('{"text": "caf\u00e9"}'.encode("latin-1"), 400, "bad_body"),
        (b'{"text": "\xff\xfe"}', 400, "bad_body"),
        (b"{}", 422, "bad_body"),
        (b'{"text": "hi", "choice": "yes"}', 422, "bad_body"),
        (b'{"text": 12}', 422, "bad_body"),
        (b'{"txt": "hi"}', 422, "bad_body"),
        (b'{"choice": ""}', 422, "bad_body"),
        (('{"text": "' + "x" * 5000 + '"}').encode(), 413, "too_large"),
        (b"x" * 100_000, 413, "too_large"),
    ],
)
async def test_bad_message_bodies_get_a_4xx_with_a_message(server, body, status, code):
    async with http(server) as client:
        sid = (await client.post("/chat/sessions")).json()["session_id"]
        headers = {"content-type": "application/json"}
        r = await client.post(f"/chat/sessions/{sid}/messages", content=body, headers=headers)
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
        assert r.json()["detail"]
        # Nothing was lost: the conversation still answers.
        assert (await say(client, sid, text="hello"))["messages"]


async def test_a_lone_surrogate_is_refused_with_a_message_that_says_so(server):
    async with http(server) as client:
        sid = (await client.post("/chat/sessions")).json()["session_id"]
        headers = {"content-type": "application/json"}
        r = await client.post(f"/chat/sessions/{sid}/messages", content=b'{"text": "\\ud800"}', headers=headers)
        assert r.status_code == 400 and "UTF-8" in r.json()["detail"]
        stored = (await client.get(f"/chat/sessions/{sid}")).json()
        assert [t["role"] for t in stored["transcript"]] == ["bot"]  # the refused text was not taken as a turn


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "text/plain"},  # what a foreign page may send without a CORS preflight
        {"content-type": "text/plain; charset=utf-8"},
        {"content-type": "application/x-www-form-urlencoded"},
        {"content-type": "multipart/form-data; boundary=x"},
        {"content-type": "application/jsonp"},
        {},  # no content type at all
    ],
    ids=["text", "text-utf8", "form", "multipart", "not-json-subtype", "none"],
)
async def test_json_bodies_sent_as_another_type_are_refused_with_415(server, headers):
    async with http(server) as client:
        sid = (await client.post("/chat/sessions")).json()["session_id"]
        r = await client.post(f"/chat/sessions/{sid}/messages", content=b'{"text": "hello"}', headers=headers)
        assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
        assert "application/json" in r.json()["detail"]
        r = await client.post("/chat/sessions", content=b'{"language": "es"}', headers=headers)
        assert r.status_code == 415 and r.json()["detail"]
        stored = (await client.get(f"/chat/sessions/{sid}")).json()
        assert [t["role"] for t in stored["transcript"]] == ["bot"]  # nothing was taken as a turn


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/vnd.frontdesk+json", "Application/JSON"]
)
async def test_json_media_types_with_a_suffix_or_parameters_are_taken(server, content_type):
    async with http(server) as client:
        r = await client.post("/chat/sessions", content=b'{"language": "es"}', headers={"content-type": content_type})
        assert r.status_code == 200 and r.json()["messages"][0]["language"] == "es"
        sid = r.json()["session_id"]
        r = await client.post(
            f"/chat/sessions/{sid}/messages", content=b'{"text": "hola"}', headers={"content-type": content_type}
        )
        assert r.status_code == 200 and r.json()["messages"]


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"", {}),
        (b"", {"content-type": "application/json"}),
        (b"  \n", {}),
        (b"{}", {"content-type": "application/json"}),
    ],
    ids=["empty", "empty-json", "whitespace", "empty-object"],
)
async def test_a_session_starts_without_a_body(server, body, headers):
    async with http(server) as client:
        r = await client.post("/chat/sessions", content=body, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["session_id"] and r.json()["messages"][0]["language"] == "en"


async def test_a_message_needs_a_body(server):
    async with http(server) as client:
        sid = (await client.post("/chat/sessions")).json()["session_id"]
        r = await client.post(f"/chat/sessions/{sid}/messages")
        assert r.status_code == 422 and r.json()["code"] == "bad_body" and r.json()["detail"]


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


async def test_an_unexpected_server_error_is_a_503_in_the_same_shape_and_logged(server, monkeypatch):
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("frontdesk.web").addHandler(handler)

    async def broken(session_id: str) -> list:
        raise RuntimeError("the transcript table is gone")

    try:
        async with http(server) as client:
            sid = (await client.post("/chat/sessions")).json()["session_id"]
            monkeypatch.setattr(server.engine, "transcript", broken)
            r = await client.get(f"/chat/sessions/{sid}")
            monkeypatch.undo()
            assert r.status_code == 503 and r.json()["code"] == "unavailable" and r.json()["detail"]
            assert "transcript table" not in r.text  # what broke stays on the server
            assert (await client.get(f"/chat/sessions/{sid}")).status_code == 200
    finally:
        logging.getLogger("frontdesk.web").removeHandler(handler)
    logged = [r for r in records if r.exc_info and "transcript table" in str(r.exc_info[1])]
    assert len(logged) == 1 and f"/chat/sessions/{sid}" in logged[0].getMessage()


async def test_sites_that_embed_the_widget_may_call_the_rest_api_and_no_others(backoffice):
    shop, other = "https://shop.example", "https://other.example"
    async with running(backoffice, chat_config(allowed_origins=[shop])) as s, http(s) as client:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
        r = await client.options("/chat/sessions", headers={"Origin": shop, **preflight})
        assert r.status_code < 300 and r.headers["access-control-allow-origin"] == shop
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "content-type" in r.headers["access-control-allow-headers"].lower()
        r = await client.options("/chat/sessions", headers={"Origin": other, **preflight})
        assert "access-control-allow-origin" not in r.headers

        r = await client.post("/chat/sessions", json={}, headers={"Origin": shop})
        assert r.status_code == 200 and r.headers["access-control-allow-origin"] == shop
        sid = r.json()["session_id"]
        r = await client.get(f"/chat/sessions/{sid}", headers={"Origin": shop})
        assert r.headers["access-control-allow-origin"] == shop
        # Refusals reach the embedding page too, so it can tell its visitor what happened.
        r = await client.get("/chat/sessions/" + "A" * 32, headers={"Origin": shop})
        assert r.status_code == 404 and r.headers["access-control-allow-origin"] == shop
        r = await client.get(f"/chat/sessions/{sid}", headers={"Origin": other})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        # The agent console's API answers no other site's page.
        r = await client.get("/agent/api/queue", headers={"Origin": shop, **bearer()})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
