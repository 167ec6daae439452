"""pipecat's FastAPI WebSocket transport with bot audio paced on an absolute clock, slightly ahead.

The stock output sleeps one chunk's length after each chunk and, when a sleep overshoots (a busy
event loop), restarts its schedule from "now": every overshoot is lost for good, so under load
the bot's audio leaves slower than real time and the caller hears gaps. Here the schedule is
absolute (a late chunk is followed by the next one at once) and runs `LEAD_S` ahead of real time,
which Twilio's playout buffer absorbs; a barge-in `clear` drops at most that much.
"""

from __future__ import annotations

import asyncio
import time

from pipecat.transports.websocket.fastapi import FastAPIWebsocketOutputTransport, FastAPIWebsocketTransport

LEAD_S = 0.1
# Further behind than this means the audio had stopped (a new utterance): start a new schedule.
_RESYNC_S = 0.5


class PacedOutputTransport(FastAPIWebsocketOutputTransport):
    async def _write_audio_sleep(self) -> None:
        now = time.monotonic()
        if not self._next_send_time or now > self._next_send_time + _RESYNC_S:
            self._next_send_time = now - LEAD_S
        self._next_send_time += self._send_interval
        delay = self._next_send_time - now
        if delay > 0:
            await asyncio.sleep(delay)


class PhoneWebsocketTransport(FastAPIWebsocketTransport):
    def __init__(self, websocket, params, **kwargs) -> None:
        super().__init__(websocket, params, **kwargs)
        self._output = PacedOutputTransport(self, self._client, self._params, name=self._output_name)
