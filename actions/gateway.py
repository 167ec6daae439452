"""The one place every system call passes through: circuit breaker, injected faults, deadline.

A call is `gateway.call(system, operation, fn)`. Business errors raised by `fn` pass through and
do not count against the system's health; infrastructure failures come out as `SystemFailure`
subclasses so callers can decide whether a retry is safe. A database that is locked, deadlocked,
unreachable or out of resources is such a failure: its transaction was rolled back, so the call
can be retried under the same idempotency key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from actions.circuit import BreakerConfig, CircuitBreaker
from actions.errors import LostResponse, SystemError_, SystemFailure, SystemTimeout, SystemUnavailable
from actions.faults import FaultInjector, FaultKind

T = TypeVar("T")

# SQLSTATE classes of failures that say nothing about the request: connection (08), transaction
# rollback such as deadlock or serialisation failure (40), resources (53), operator intervention (57).
_TRANSIENT_SQLSTATE = ("08", "40", "53", "57")


def _transient(exc: DBAPIError) -> bool:
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return True
    state = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or ""
    return str(state)[:2] in _TRANSIENT_SQLSTATE


SYSTEMS = ("retail", "payments", "billing", "identity", "crm", "scheduler", "notifications")


class SystemGateway:
    def __init__(
        self,
        faults: FaultInjector | None = None,
        *,
        timeout_s: float = 5.0,
        breaker: BreakerConfig | None = None,
    ):
        self.faults = faults or FaultInjector()
        self.timeout_s = timeout_s
        self._breaker_config = breaker or BreakerConfig()
        self.breakers: dict[str, CircuitBreaker] = {}

    def breaker(self, system: str) -> CircuitBreaker:
        if system not in self.breakers:
            self.breakers[system] = CircuitBreaker(system, self._breaker_config)
        return self.breakers[system]

    def is_up(self, system: str) -> bool:
        return self.breaker(system).state.value != "open"

    def health(self) -> dict[str, str]:
        return {name: self.breaker(name).state.value for name in SYSTEMS}

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
        if kind is FaultKind.timeout:
            await asyncio.sleep(self.timeout_s)
            raise SystemTimeout(system, f"the {system} system did not answer {operation} in time")
        try:
            async with asyncio.timeout(self.timeout_s):
                if kind is FaultKind.slow:
                    await asyncio.sleep(fault.delay_s)
                result = await fn()
        except TimeoutError as exc:
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
