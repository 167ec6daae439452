"""A virtual clock for replay: an asyncio event loop that skips the time it would spend idle.

While anything runs (the loop's own work, or speech models in worker threads) the clock advances
with real time, so the latencies a replay measures include every real computation. When every
task is only waiting for a timer (audio pacing, VAD and turn timeouts, the silence reprompt), the
clock jumps to that timer at once: a call is replayed as fast as the computer can work through it.

`time.time()` and `time.monotonic()` follow the loop's clock in the loop's own thread while it
runs, because the pipeline (pipecat's output pacing and bot-speaking detection, the turn
strategies, the call figures) reads them directly; other threads keep the real time. They are
replaced when this module is imported (outside a virtual loop they return the real time): pipecat
binds `time.time` as the default of frame timestamps when its frames module is imported, so that
must come after; `PATCHED_BEFORE_PIPECAT` says whether it did, and replay runs its calls in a
fresh process when it did not.
Worker threads started with `loop.run_in_executor` (and `asyncio.to_thread`) are counted: the
clock never jumps while one is working, since its result may come at any moment.

With `free_compute` nothing that computes takes time on the call's clock, neither the speech
models nor the loop's own work: the clock moves only from one timer to the next, a discrete-event
simulation. Worker-thread jobs still run in threads (two calls' models use two cores), but their
results are handed back only once the loop has nothing else to do, all together and in the order
the jobs were asked for; until then no timer fires. So what is heard and where a turn ends depend
on the audio alone, not on how busy the machine is (reproducible verdicts on a loaded test
machine), at the price of latencies that count waiting but no computing. Simulated time starts at
the same instant every run (`SIMULATED_MONOTONIC_START`, `SIMULATED_WALL_START`), so not even how
long the machine has been up changes a result. The loop must not wait on real sockets meanwhile: the
clock would jump past a reply that is merely slow.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import selectors
import sys
import threading
import time
from typing import Any

# The real clocks, kept however often this module is reloaded.
_real_time = getattr(time.time, "real", time.time)
_real_monotonic = getattr(time.monotonic, "real", time.monotonic)
_active: VirtualClockLoop | None = None
# Where simulated time starts (free compute): a power of two, so sums of its steps stay exact
# longer, and a wall clock of 2026-01-01T00:00:00Z.
SIMULATED_MONOTONIC_START = 1024.0
SIMULATED_WALL_START = 1767225600.0


def _clock() -> VirtualClockLoop | None:
    loop = _active
    return loop if loop is not None and loop.thread_id == threading.get_ident() else None


def _virtual_time() -> float:
    loop = _clock()
    return _real_time() if loop is None else loop.wall_at_start + (loop.time() - loop.monotonic_at_start)


def _virtual_monotonic() -> float:
    loop = _clock()
    return _real_monotonic() if loop is None else loop.time()


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
        if self._loop.free_compute:
            return self._select_simulated(timeout)
        if timeout is None or timeout <= 0 or self._loop.threads_working:
            return self._selector.select(timeout)
        ready = self._selector.select(0)
        if ready:
            return ready
        self._loop.offset += timeout
        return []

    def _select_simulated(self, timeout: float | None) -> list[Any]:
        if timeout is not None and timeout <= 0:  # callbacks are waiting: no time passes, nothing is handed back
            return self._selector.select(0)
        ready = self._selector.select(0)
        if ready:
            return ready
        if self._loop.hand_back_jobs():
            return []
        if timeout is None:  # no timer at all: only the outside world can wake the loop
            return self._selector.select(None)
        self._loop.offset += timeout
        return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._selector, name)


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """Use as `asyncio.Runner(loop_factory=VirtualClockLoop)`; one such loop runs at a time per process."""

    def __init__(self, *, free_compute: bool = False) -> None:
        super().__init__()
        self.free_compute = free_compute
        self.offset = 0.0
        self.threads_working = 0
        self.thread_id: int | None = None
        if free_compute:
            # Simulated time starts at the same instant every run: with the real clock's value the
            # float sums of 20 ms frames round differently, and a tie between a mark played and a
            # frame sent could go either way depending on how long the machine had been up.
            self.monotonic_at_start, self.wall_at_start = SIMULATED_MONOTONIC_START, SIMULATED_WALL_START
        else:
            self.monotonic_at_start, self.wall_at_start = _real_monotonic(), _real_time()
        self._frozen_at = self.monotonic_at_start
        self._jobs: list[tuple[concurrent.futures.Future[Any], asyncio.Future[Any]]] = []
        self._workers = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="virtual-clock")
        self.set_default_executor(self._workers)
        self._selector = _WarpSelector(self._selector, self)  # type: ignore[assignment]

    def time(self) -> float:
        if self.free_compute:
            return self._frozen_at + self.offset
        return _real_monotonic() + self.offset

    def run_in_executor(self, executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
        if self.free_compute:
            self._check_closed()
            job = (executor or self._workers).submit(func, *args)
            future = self.create_future()
            self._jobs.append((job, future))
            return future
        future = super().run_in_executor(executor, func, *args)
        self.threads_working += 1
        future.add_done_callback(self._thread_done)
        return future

    def hand_back_jobs(self) -> bool:
        """Wait for every worker-thread job asked for so far; set their results in the order asked."""
        if not self._jobs:
            return False
        jobs, self._jobs = self._jobs, []
        concurrent.futures.wait([job for job, _ in jobs])
        for job, future in jobs:
            if future.cancelled():
                continue
            error = job.exception()
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(job.result())
        return True

    def _thread_done(self, _future: asyncio.Future[Any]) -> None:
        self.threads_working -= 1

    def run_forever(self) -> None:
        global _active
        previous, _active = _active, self
        self.thread_id = threading.get_ident()
        try:
            super().run_forever()
        finally:
            _active = previous


def run(coro: Any, *, free_compute: bool = False) -> Any:
    """Run a coroutine on a fresh virtual-clock loop (see `VirtualClockLoop.free_compute`)."""
    with asyncio.Runner(loop_factory=lambda: VirtualClockLoop(free_compute=free_compute)) as runner:
        return runner.run(coro)
