"""A circuit breaker per system: after repeated failures stop calling it for a while."""

from __future__ import annotations

import time
from enum import StrEnum

from pydantic import BaseModel


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


class BreakerConfig(BaseModel):
    failure_threshold: int = 5
    reset_after_s: float = 30.0


class CircuitBreaker:
    """Closed -> open after `failure_threshold` consecutive failures; one trial call after the pause."""

    def __init__(self, system: str, config: BreakerConfig | None = None, clock=time.monotonic):
        self.system = system
        self.config = config or BreakerConfig()
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.closed
        if self._clock() - self._opened_at >= self.config.reset_after_s:
            return BreakerState.half_open
        return BreakerState.open

    def allow(self) -> bool:
        state = self.state
        if state is BreakerState.closed:
            return True
        if state is BreakerState.half_open and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._trial_in_flight = False
        self._failures += 1
        if self._opened_at is not None or self._failures >= self.config.failure_threshold:
            self._opened_at = self._clock()

    def force_open(self) -> None:
        self._opened_at = self._clock()

    def reset(self) -> None:
        self.record_success()
