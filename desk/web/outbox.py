"""`Outbox`: the frames waiting for one WebSocket, a bounded queue drained by one writer task, so a
frame can be handed over from synchronous code (the engine's listeners) without waiting on a slow
network. A socket that falls too far behind is closed rather than held in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket, WebSocketState

log = logging.getLogger("frontdesk.web")

# Sent when a socket falls so far behind that holding more frames for it would cost the server.
CLOSE_TOO_SLOW = 1013


class Outbox:
    """Frames waiting to be written to one WebSocket."""

    def __init__(self, websocket: WebSocket, limit: int) -> None:
        self.websocket = websocket
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(limit)
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self.closed = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def push(self, frame: str) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("socket too slow; closing it")
            self.closed = True
            self._closing = asyncio.create_task(self._close(CLOSE_TOO_SLOW))

    def push_all(self, frames: list[str]) -> None:
        for frame in frames:
            self.push(frame)

    async def drain_and_stop(self) -> None:
        """Write what is queued, then stop the writer."""
        if self._task is None:
            return
        if not self.closed:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
        self.closed = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout=5)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()

    async def _run(self) -> None:
        try:
            while True:
                frame = await self._queue.get()
                if frame is None:
                    return
                await self.websocket.send_text(frame)
        except Exception:  # the peer went away: the reader sees the disconnect and cleans up
            self.closed = True

    async def _close(self, code: int) -> None:
        with contextlib.suppress(Exception):
            if self.websocket.application_state == WebSocketState.CONNECTED:
                await self.websocket.close(code)
