"""A server restart in the middle of a conversation: the new server, on the same database, resumes it
where it was, with nothing lost (the transcript, the pending question, the write still to do)."""

from __future__ import annotations

import pytest
from websockets.exceptions import ConnectionClosed

from actions.backoffice import Backoffice
from tests.chat_support import customer, http, pending_orders, start_server, to_readback


async def test_a_new_server_on_the_same_database_resumes_the_conversation(db_url, data):
    order = pending_orders(data)[30]
    first_office = Backoffice(db_url, timeout_s=0.3)
    await first_office.open()
    await first_office.import_data(data)
    server = await start_server(first_office)
    try:
        async with customer(server) as c:
            await to_readback(c, data, order)
            question = c.messages[-1]
            async with http(server) as client:
                before = (await client.get(f"/chat/sessions/{c.session_id}")).json()
            await server.stop()
            # The open chat sees the server go away.
            with pytest.raises(ConnectionClosed):
                while True:
                    await c.recv()
    finally:
        await server.stop()
        await first_office.close()

    office = Backoffice(db_url, timeout_s=0.3)
    await office.open()
    try:
        server = await start_server(office)
        try:
            async with customer(server, session_id=c.session_id) as again:
                assert again.resumed and again.session_id == c.session_id
                assert again.messages[-1]["text"] == question["text"]
                assert again.messages[-1]["choices"] == question["choices"]
                assert again.state["pending_confirmation"]["tool"] == "cancel_pending_order"
                async with http(server) as client:
                    after = (await client.get(f"/chat/sessions/{c.session_id}")).json()
                # Everything said before the restart is still there, followed by the repeated question.
                assert after["transcript"][: len(before["transcript"])] == before["transcript"]
                assert after["transcript"][-1]["text"] == question["text"]
                assert after["state"]["identity"] == before["state"]["identity"]
                assert after["state"]["slots"] == before["state"]["slots"]

                await again.choose("yes")
                action = again.state["actions"][-1]
                assert action["verified"] and action["confirmation_id"] in again.text
            assert (await office.export_data())["orders"][order["order_id"]]["status"] == "cancelled"
        finally:
            await server.stop()
    finally:
        await office.close()
