"""Token buckets keyed by session or client address, with memory bounded by pruning idle keys, and
`RateLimited`, what a refused message or connection raises (a 429 over REST, an error frame on a socket)."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many messages: wait {retry_after:.1f} s and try again")
        self.retry_after = retry_after
        self.message = str(self)


class RateLimiter:
    """`take(key)` spends one token of that key's bucket; it answers 0 when allowed, else seconds to wait."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        # key -> (tokens, when they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        now = self.clock()
        tokens, then = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < cost:
            self._buckets[key] = (tokens, now)
            return (cost - tokens) / self.rate
        self._buckets[key] = (tokens - cost, now)
        if len(self._buckets) > self.max_keys:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        # A bucket that has refilled holds no information: forgetting it changes nothing.
        full = [k for k, (tokens, then) in self._buckets.items() if tokens + (now - then) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) > self.max_keys:
            # Still too many busy keys (a flood of addresses): drop the oldest, which errs on allowing.
            for key in list(self._buckets)[: len(self._buckets) - self.max_keys]:
                del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)
