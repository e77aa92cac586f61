"""Requests counted in aggregate rather than audited one row each: health probes and refusals of callers
without a valid key (see serving/audit.py). Counts wait in memory and are written once a minute (and at
shut-down); a write that fails keeps them for the next one, so a store outage loses no count."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

from serving.audit import AuditStore, AuditUnavailableError, TallyKey
from serving.logs import logger


class RequestTally:
    def __init__(self) -> None:
        self._counts: Counter[TallyKey] = Counter()
        self._lock = threading.Lock()

    def count(self, method: str, endpoint: str, status: int) -> None:
        minute = datetime.now(UTC).replace(second=0, microsecond=0)
        with self._lock:
            self._counts[(minute, method, endpoint, status)] += 1

    def flush(self, store: AuditStore) -> bool:
        """Write what has been counted; on failure the counts are kept (merged with any counted meanwhile)."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        try:
            store.add_tally(dict(counts))
        except AuditUnavailableError as exc:
            with self._lock:
                self._counts.update(counts)
            logger().warning("request tally not written; kept for the next try",
                             extra={"event": "audit_unavailable", "error_type": str(exc)})
            return False
        return True

    def pending(self) -> int:
        with self._lock:
            return sum(self._counts.values())


def flush_every(tally: RequestTally, store: AuditStore, seconds: float, stop: threading.Event) -> None:
    """The flushing thread's loop (started by the lifespan, which flushes once more after `stop`). While the store
    is failing it tries again as often as the store lets a write through: the counts of /readyz polls are then
    what finds out that the store is back, so a service with no other traffic becomes ready again."""
    while not stop.wait(seconds if store.available else store.breaker.retry_seconds):
        tally.flush(store)
