"""Phone calls on the virtual clock: the app served in this process, called by the dial client through
httpx-ws, with computing free of time (`replay.clock`, as `frontdesk replay --model-time free`).

The caller's audio, the bot's audio and every timer (VAD, end of turn, reprompts, the caller's
pauses) run on one simulated clock that moves only from timer to timer, so how busy the machine
is cannot change what the line hears or where a turn ends: the same call gives the same result
every time. What the line said is read from the call record (what was synthesized), not from a
recogniser listening to the bot.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
from asgi_lifespan import LifespanManager
from httpx_ws.transport import ASGIWebSocketTransport

from replay import clock
from voice.calls import CallRecord

T = TypeVar("T")
HOST = "http://frontdesk.test"


def on_virtual_clock(scenario: Callable[[], Awaitable[T]]) -> T:
    """Run `scenario()` on a fresh virtual-clock loop where computing takes no time."""
    # pipecat stamps frames with time.time bound at its import: the clock must have been patched first.
    assert clock.PATCHED_BEFORE_PIPECAT, "replay.clock must be imported before pipecat (tests/conftest.py)"
    return clock.run(scenario(), free_compute=True)


@contextlib.asynccontextmanager
async def served(app: Any, *, lifespan: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client whose requests and WebSockets reach `app` in this process (its lifespan run if asked)."""
    async with contextlib.AsyncExitStack() as stack:
        if lifespan:
            await stack.enter_async_context(LifespanManager(app, startup_timeout=None, shutdown_timeout=None))
        transport = await stack.enter_async_context(ASGIWebSocketTransport(app))
        yield await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url=HOST))


def line_said(record: CallRecord) -> list[str]:
    """What the line said, utterance by utterance, as it was synthesized (the greeting first)."""
    return [str(e.data["text"]) for e in record.events if e.kind == "voice"]
