"""The one place every system call passes through: circuit breaker, injected faults, deadline.

A call is `gateway.call(system, operation, fn)` for a system of the system registry, which has a
breaker of its own or shares the one of the system that keeps its records. Business errors raised
by `fn` pass through and do not count against the system's health; infrastructure failures come
out as `SystemFailure` subclasses so callers can decide whether a retry is safe. A database that is locked, deadlocked,
unreachable or out of resources is such a failure: its transaction was rolled back, so the call
can be retried under the same idempotency key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from actions.circuit import BreakerConfig, CircuitBreaker
from actions.errors import LostResponse, SystemError_, SystemFailure, SystemTimeout, SystemUnavailable
from actions.faults import FaultInjector, FaultKind
from actions.systems.registry import SYSTEMS, SystemRegistry

T = TypeVar("T")
log = logging.getLogger(__name__)

# SQLSTATE classes of failures that say nothing about the request: connection (08), transaction
# rollback such as deadlock or serialisation failure (40), resources (53), operator intervention (57).
_TRANSIENT_SQLSTATE = ("08", "40", "53", "57")


def _transient(exc: DBAPIError) -> bool:
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
    return str(state)[:2] in _TRANSIENT_SQLSTATE


class SystemGateway:
    def __init__(
        self,
        faults: FaultInjector | None = None,
        *,
        timeout_s: float = 5.0,
        breaker: BreakerConfig | None = None,
        systems: SystemRegistry | None = None,
    ):
        self.faults = faults or FaultInjector()
        self.timeout_s = timeout_s
        self.systems = SYSTEMS if systems is None else systems
        self._breaker_config = breaker or BreakerConfig()
        self.breakers: dict[str, CircuitBreaker] = {}
        for spec in self.systems:
            self.breaker(spec.name)
        self._background: set[asyncio.Task] = set()
        # Deadlines per system ("billing") or operation ("billing.change_plan") that differ from the default.
        self.system_timeouts: dict[str, float] = {}

    def _finished_late(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("a call that timed out failed later: %s", task.exception())

    async def drain(self) -> None:
        """Wait for calls that outlived their deadline (before closing the database)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def breaker(self, system: str) -> CircuitBreaker:
        """The breaker calls to `system` count against (a registered system's name, else ValueError)."""
        name = self.systems.get(system).breaker
        if name not in self.breakers:
            self.breakers[name] = CircuitBreaker(name, self._breaker_config)
        return self.breakers[name]

    def is_up(self, system: str) -> bool:
        return self.breaker(system).state.value != "open"

    def health(self) -> dict[str, str]:
        """Every registered system and the state of the breaker its calls count against."""
        return {spec.name: self.breaker(spec.name).state.value for spec in self.systems}

    async def call(self, system: str, operation: str, fn: Callable[[], Awaitable[T]]) -> T:
        breaker = self.breaker(system)
        if not breaker.allow():
            raise SystemUnavailable(system, f"the {system} system is unavailable right now")
        fault = self.faults.decide(system, operation)
        try:
            result = await self._run(system, operation, fn, fault)
        except SystemFailure:
            breaker.record_failure()
            raise
        breaker.record_success()
        return result

    async def _run(self, system, operation, fn, fault) -> T:
        kind = fault.kind if fault else None
        if kind is FaultKind.error:
            raise SystemError_(system, f"the {system} system returned an error on {operation}")
        deadline = self.system_timeouts.get(f"{system}.{operation}", self.system_timeouts.get(system, self.timeout_s))
        if kind is FaultKind.timeout:
            await asyncio.sleep(deadline)
            raise SystemTimeout(system, f"the {system} system did not answer {operation} in time")
        loop = asyncio.get_running_loop()
        started = loop.time()
        if kind is FaultKind.slow:
            # Latency before the request reaches the system: giving up here means it never arrives.
            try:
                await asyncio.wait_for(asyncio.sleep(fault.delay_s), deadline)
            except TimeoutError as exc:
                raise SystemTimeout(system, f"the {system} system did not answer {operation} in time") from exc
        # Once the system is working on it, the call is not cancelled: cancelling a database
        # transaction mid-statement can leave it holding the write lock. Past the deadline the caller
        # gets a timeout (the write may still land, which idempotency keys resolve) while the call
        # finishes in the background.
        task = asyncio.ensure_future(fn())
        try:
            result = await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - (loop.time() - started)))
        except TimeoutError as exc:
            self._background.add(task)
            task.add_done_callback(self._finished_late)
            raise SystemTimeout(system, f"the {system} system did not answer {operation} in time") from exc
        except SystemFailure:
            raise
        except (OSError, ConnectionError) as exc:
            raise SystemError_(system, f"the {system} system failed on {operation}: {exc}") from exc
        except DBAPIError as exc:
            if not _transient(exc):
                raise
            raise SystemError_(system, f"the {system} system failed on {operation}: {exc.orig}") from exc
        if kind is FaultKind.lost_response:
            raise LostResponse(system, f"the reply from {system} to {operation} was lost")
        return result
