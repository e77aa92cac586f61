"""Per-key rate limits: one token bucket per API key id, in memory (one process = one set of buckets).

A bucket holds up to `burst` tokens and refills at `per_minute / 60` tokens a second; a request spends one token
or is refused with 429 and the number of seconds until a token is back (Retry-After). Keyed by the key id, never
by the key itself, so the limiter holds nothing secret; anonymous requests are refused with 401 before this.
Sign-ins also use it keyed by client address (serving/pages/throttle.py), where the names are not bounded by the
keyring: buckets that have refilled completely say nothing a missing bucket does not, so they are dropped whenever
the table has doubled since the last sweep (memory bounded by the clients seen within one refill time).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

SWEEP_FLOOR = 1_024

class RateLimiter:
    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, time of last refill)
        self._lock = threading.Lock()
        self._sweep_at = SWEEP_FLOOR

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key_id: str) -> int | None:
        """Spend one token of `key_id`'s bucket: None when allowed, else whole seconds until one is available."""
        with self._lock:
            now = self._clock()
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            tokens, since = self._buckets.get(key_id, (self.burst, now))
            tokens = min(self.burst, tokens + (now - since) * self.rate)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return None
            self._buckets[key_id] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))

    def _sweep(self, now: float) -> None:
        self._buckets = {name: (tokens, since) for name, (tokens, since) in self._buckets.items()
                         if tokens + (now - since) * self.rate < self.burst}
        self._sweep_at = max(SWEEP_FLOOR, 2 * len(self._buckets))
