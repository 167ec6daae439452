"""A virtual clock for replay: an asyncio event loop that skips the time it would spend idle.

While anything runs (the loop's own work, or speech models in worker threads) the clock advances
with real time, so the latencies a replay measures include every real computation. When every
task is only waiting for a timer (audio pacing, VAD and turn timeouts, the silence reprompt), the
clock jumps to that timer at once: a call is replayed as fast as the computer can work through it.

`time.time()` and `time.monotonic()` follow the loop's clock while it runs, because the pipeline
(pipecat's output pacing and bot-speaking detection, the turn strategies, the call figures) reads
them directly. They are replaced when this module is imported (outside a virtual loop they return
the real time): pipecat binds `time.time` as the default of frame timestamps when its frames module
is imported, so that must come after; `PATCHED_BEFORE_PIPECAT` says whether it did, and replay runs
its calls in a fresh process when it did not.
Worker threads started with `loop.run_in_executor` (and `asyncio.to_thread`) are
counted: the clock never jumps while one is working, since its result may come at any moment.

With `free_models` the clock instead stands still while only such threads work: the speech models
take no time on the call's clock. Turn-taking then no longer depends on how busy the machine is
(reproducible verdicts on a loaded test machine), at the price of latencies without model time.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
import time
from typing import Any

# The real clocks, kept however often this module is reloaded.
_real_time = getattr(time.time, "real", time.time)
_real_monotonic = getattr(time.monotonic, "real", time.monotonic)
_active: VirtualClockLoop | None = None


def _virtual_time() -> float:
    return _real_time() + (_active.offset if _active is not None else 0.0)


def _virtual_monotonic() -> float:
    return _real_monotonic() + (_active.offset if _active is not None else 0.0)


_virtual_time.real = _real_time  # type: ignore[attr-defined]
_virtual_monotonic.real = _real_monotonic  # type: ignore[attr-defined]
PATCHED_BEFORE_PIPECAT = "pipecat.frames.frames" not in sys.modules
time.time, time.monotonic = _virtual_time, _virtual_monotonic


class _WarpSelector:
    """Wraps the loop's selector: a wait for a timer with nothing else to do becomes a jump."""

    def __init__(self, selector: selectors.BaseSelector, loop: VirtualClockLoop) -> None:
        self._selector = selector
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        if self._loop.threads_working and self._loop.free_models and (timeout is None or timeout > 0):
            # Model time is free: the clock stands still while only a worker thread is busy.
            started = _real_monotonic()
            ready = self._selector.select(None)
            self._loop.offset -= _real_monotonic() - started
            return ready
        if timeout is None or timeout <= 0 or self._loop.threads_working:
            return self._selector.select(timeout)
        ready = self._selector.select(0)
        if ready:
            return ready
        self._loop.offset += timeout
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._selector, name)


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """Use as `asyncio.Runner(loop_factory=VirtualClockLoop)`; one such loop runs at a time per process."""

    def __init__(self, *, free_models: bool = False) -> None:
        super().__init__()
        self.free_models = free_models
        self.offset = 0.0
        self.threads_working = 0
        self._selector = _WarpSelector(self._selector, self)  # type: ignore[assignment]

    def time(self) -> float:
        return _real_monotonic() + self.offset

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
        future = super().run_in_executor(executor, func, *args)
        self.threads_working += 1
        future.add_done_callback(self._thread_done)
        return future

    def _thread_done(self, _future: asyncio.Future[Any]) -> None:
        self.threads_working -= 1

    def run_forever(self) -> None:
        global _active
        previous, _active = _active, self
        try:
            super().run_forever()
        finally:
            _active = previous


def run(coro: Any, *, free_models: bool = False) -> Any:
    """Run a coroutine on a fresh virtual-clock loop (see `VirtualClockLoop.free_models`)."""
    with asyncio.Runner(loop_factory=lambda: VirtualClockLoop(free_models=free_models)) as runner:
        return runner.run(coro)
