"""The audit store: one row per request (when, key id, role, endpoint, status, model version, body hash).

SQLite by default, any SQLAlchemy URL otherwise. Rows never hold patient identifiers or scores: the endpoint is
the route template (never the raw path), and the body is kept only as its SHA-256. Each request is written
twice: a row before any work is done and its outcome after, so a request whose audit row cannot be written is
refused (503) before it has any effect, and a response is only sent once recorded. Requests that carry no
identity and change nothing (health probes, refusals of anonymous callers) are counted per minute in
`audit_tally` instead of a row each, so nobody without a key can grow the store or make a probe wait on it.

SQLite runs with a rollback journal, not WAL: WAL's shared-memory index is the `-shm` file mapped into the
process, and a truncated or read-only `-shm` kills the process with SIGBUS on the next write (measured), and a
removed WAL database keeps accepting writes into the deleted file; a rollback journal answers both with an
error (the request gets a 503). It costs ~0.8 ms per commit on this disk (synchronous=FULL), against
~0.02 ms in WAL.

After a failed write the store refuses writes for `retry_seconds` without touching the database, then lets one
through as a probe: a locked or broken store costs one lock wait, not one per queued request.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

metadata = MetaData()
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(36), nullable=False, index=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("method", String(10), nullable=False),
    Column("endpoint", String(200), nullable=True),
    Column("key_id", String(40), nullable=True),
    Column("role", String(20), nullable=True),
    Column("status", Integer, nullable=True),
    Column("model_version", String(40), nullable=True),
    Column("body_sha256", String(64), nullable=True),
    Column("body_bytes", Integer, nullable=True),
    Column("duration_ms", Float, nullable=True),
)
audit_tally = Table(
    "audit_tally", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("minute", DateTime(timezone=True), nullable=False, index=True),
    Column("method", String(10), nullable=False),
    Column("endpoint", String(200), nullable=False),
    Column("status", Integer, nullable=False),
    Column("requests", Integer, nullable=False),
)


_OUTCOME = ("endpoint", "status", "key_id", "role", "model_version", "body_sha256", "body_bytes", "duration_ms")
# Built once with bound parameters: rebuilding the statements per request cost ~0.5 ms of every request's CPU.
_BEGIN = insert(audit_log)
_FINISH = update(audit_log).where(audit_log.c.id == bindparam("row_id")).values(
    {name: bindparam(f"new_{name}") for name in _OUTCOME})


class AuditUnavailableError(RuntimeError):
    """The audit row could not be written; the request must not be served (retry after `retry_after` s)."""

    def __init__(self, reason: str, retry_after: int = 1, *, untried: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.untried = untried
        """Refused by the breaker without touching the store (the failure itself was already reported)."""


TallyKey = tuple[datetime, str, str, int]
"""(minute, method, endpoint, status) of requests counted in aggregate."""


class _Breaker:
    """Open after a failed write: writes are refused at once until `retry_seconds` have passed, then one is let
    through (the probe) while the others are still refused; a success closes it."""

    def __init__(self, retry_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until: float | None = None
        self._probing = False
        self.reason = ""

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def _refusal(self, now: float) -> AuditUnavailableError:
        wait = max(1, math.ceil((self._open_until or now) - now))
        return AuditUnavailableError(f"audit store unavailable ({self.reason})", retry_after=wait, untried=True)

    def admit(self, claim: bool = True) -> None:
        """Raise at once while open, unless it is time for the probe, which this call then becomes (`claim`) or
        only looks at (a request about to queue its write: the writer thread claims the probe)."""
        with self._lock:
            if self._open_until is None:
                return
            now = self._clock()
            if now < self._open_until or self._probing:
                raise self._refusal(now)
            self._probing = claim

    def succeeded(self) -> None:
        with self._lock:
            self._open_until, self._probing, self.reason = None, False, ""

    def failed(self, reason: str) -> None:
        with self._lock:
            self._open_until, self._probing, self.reason = self._clock() + self.retry_seconds, False, reason


@dataclass(frozen=True)
class Outcome:
    endpoint: str
    status: int
    key_id: str | None
    role: str | None
    model_version: str | None
    body_sha256: str | None
    body_bytes: int
    duration_ms: float


def _sqlite_pragmas(lock_timeout_ms: int) -> Callable[[Any, Any], None]:
    """A rollback journal (see the module docstring), and how long a writer waits for another's lock before the
    request is refused (503)."""

    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=TRUNCATE")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(lock_timeout_ms)}")
        cursor.close()

    return apply


class AuditStore:
    """Writes go through one connection per writing thread, kept open (the service writes from one thread, see
    serving/offload.py): checking a connection out of the pool and back for each of a request's two rows cost
    more than the rows. A connection that fails is dropped, so the next row opens a fresh one."""

    def __init__(self, url: str, lock_timeout_seconds: float = 1.0, retry_seconds: float = 2.0):
        self.url = url
        self.breaker = _Breaker(retry_seconds)
        self.engine: Engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas(round(lock_timeout_seconds * 1000)))
        self._local = threading.local()
        self._opened: list[Connection] = []
        self._lock = threading.Lock()

    def _connection(self) -> Connection:
        connection: Connection | None = getattr(self._local, "connection", None)
        if connection is None or connection.closed or connection.invalidated:
            connection = self._local.connection = self.engine.connect()
            with self._lock:
                self._opened.append(connection)
        return connection

    def _drop_connection(self) -> None:
        connection: Connection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if connection is not None:
            with self._lock:
                if connection in self._opened:
                    self._opened.remove(connection)
            with contextlib.suppress(SQLAlchemyError):
                connection.close()

    def create(self) -> AuditStore:
        """Create the table if needed (called at start-up, never at import)."""
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (None, "", ":memory:"):
            from pathlib import Path

            Path(self.engine.url.database).parent.mkdir(parents=True, exist_ok=True)
        metadata.create_all(self.engine)
        return self

    def admit(self) -> None:
        """Called before a request's first row is queued: refuses at once while the store is known to fail."""
        self.breaker.admit(claim=False)

    @property
    def available(self) -> bool:
        """False from a failed write until a later one succeeds (what /readyz reports, without a write)."""
        return not self.breaker.is_open

    def _write(self, statement: Any, parameters: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """One statement in its own transaction, under the breaker. A kept-open connection is never pre-pinged as
        a pool check-out is, so one the server dropped meanwhile (idle timeout, fail-over) is replaced and the
        write tried once more; the failed transaction was rolled back, so nothing is written twice."""
        self.breaker.admit()
        try:
            result = self._attempt(statement, parameters)
        except AuditUnavailableError as exc:
            self.breaker.failed(str(exc))
            raise
        self.breaker.succeeded()
        return result

    def _attempt(self, statement: Any, parameters: dict[str, Any] | list[dict[str, Any]]) -> Any:
        for attempt in (1, 2):
            try:
                conn = self._connection()
                with conn.begin():
                    return conn.execute(statement, parameters)
            except DBAPIError as exc:
                self._drop_connection()
                if attempt == 2 or not exc.connection_invalidated:
                    raise AuditUnavailableError(type(exc).__name__) from exc
            except SQLAlchemyError as exc:
                self._drop_connection()
                raise AuditUnavailableError(type(exc).__name__) from exc
        raise AssertionError("unreachable")

    def begin(self, request_id: str, method: str) -> int:
        result = self._write(_BEGIN, {"request_id": request_id, "started_at": datetime.now(UTC), "method": method})
        return int(result.inserted_primary_key[0])

    def add_tally(self, counts: dict[TallyKey, int]) -> None:
        """Requests counted in aggregate (see the module docstring), one row per minute, method, endpoint, status."""
        if counts:
            self._write(insert(audit_tally), [
                {"minute": minute, "method": method, "endpoint": endpoint, "status": status, "requests": n}
                for (minute, method, endpoint, status), n in counts.items()])

    def finish(self, row_id: int, outcome: Outcome) -> None:
        result = self._write(_FINISH, {"row_id": row_id,
                                       **{f"new_{name}": getattr(outcome, name) for name in _OUTCOME}})
        if result.rowcount != 1:
            raise AuditUnavailableError("audit row vanished")

    def rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.id))]

    def tally_rows(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(audit_tally).order_by(audit_tally.c.id))]

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            with contextlib.suppress(SQLAlchemyError):
                connection.close()
        self.engine.dispose()
