"""The `frontdesk dial` client's own bookkeeping: who ended the call, whichever of its tasks notices."""

from __future__ import annotations

import asyncio

from voice.dial import DialResult, MediaStreamCall, StreamClosed


class ClosedByServer:
    """A Media Streams socket the server has just closed: sends fail, the receive side is still draining."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, _message: str) -> None:
        self.sent += 1
        raise StreamClosed

    async def messages(self):
        await asyncio.sleep(3600)
        yield ""


async def test_a_close_found_by_the_sender_is_the_servers_not_the_callers():
    result = DialResult(url="ws://frontdesk/twilio/media", call_sid="CA1", stream_sid="MZ1")
    ws = ClosedByServer()
    call = MediaStreamCall(ws, "CA1", "MZ1", result, verbose=False)
    await asyncio.wait_for(call.clock(), 2)  # the clock's next media frame finds the socket closed
    assert ws.sent == 1 and call.closed.is_set()
    assert result.closed_by == "server"
    assert any("ended by the server" in text for _, text in result.events)


async def test_a_caller_who_hung_up_is_not_told_the_server_did():
    result = DialResult(url="ws://frontdesk/twilio/media", call_sid="CA1", stream_sid="MZ1")
    call = MediaStreamCall(ClosedByServer(), "CA1", "MZ1", result, verbose=False)
    call.closed.set()  # the caller hangs up first; the socket's close that follows is its own
    call.server_closed()
    assert result.closed_by == "client"
