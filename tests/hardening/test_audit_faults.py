"""Audit-store faults of every kind (locked, read-only, full, file removed, its files truncated under the process):
requests that need a row get a 503 with Retry-After at once, nothing unaudited is done, the process survives,
/healthz never waits on the store and /readyz says it is failing; the first good write brings it all back."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from serving.settings import ServiceSettings
from tests.hardening.test_faults import counting_loader


def statements_run(engine: Any) -> list[str]:
    """Every SQL statement the store sends from now on (to see that a refusal never touched the database)."""
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _cur, statement, *_: seen.append(statement))
    return seen


def reconnect(store: Any) -> None:
    """Close the store's kept-open connections (the writer thread's too), so the next write opens a new one."""
    for connection in list(store._opened):
        connection.close()
    store.engine.dispose()


def quick_retry(settings: ServiceSettings, **update: Any) -> ServiceSettings:
    return settings.model_copy(update={"audit_retry_seconds": 0.05, **update})


def assert_refused(responses: list[Any]) -> None:
    assert [r.status_code for r in responses] == [503] * len(responses)
    assert all(r.json()["type"].endswith("audit-unavailable") and int(r.headers["retry-after"]) >= 1
               for r in responses)


def test_locked_store_refuses_at_once_after_one_wait_and_recovers(make_client: Any, settings: ServiceSettings,
                                                                  champion: Any, auth: Any) -> None:
    loads, loader = counting_loader(champion)
    client = make_client(loader=loader, service_settings=settings.model_copy(
        update={"audit_lock_timeout_seconds": 0.2, "audit_retry_seconds": 0.5}))
    holder = sqlite3.connect(settings.data_dir / "audit.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    try:
        first = client.post("/v1/admin/reload", headers=auth("data_scientist"))  # waits for the lock once
        sent = statements_run(client.app.state.audit.engine)
        later = [client.get("/v1/programs", headers=auth("allocator")) for _ in range(20)]
        assert sent == [], "requests refused while the store is known to fail must not queue on its lock"
        assert_refused([first, *later])
        assert "programs" not in later[0].text
        assert loads == [True], "the reload ran although it could not be audited"
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["type"].endswith("audit-unavailable")
    finally:
        holder.rollback()
        holder.close()
    time.sleep(0.55)
    assert client.post("/v1/admin/reload", headers=auth("data_scientist")).status_code == 200
    assert client.get("/readyz").status_code == 200
    assert loads == [True, False]
    assert all(r["status"] is not None for r in client.app.state.audit.rows())  # no half-written rows


def test_full_store_fails_closed(make_client: Any, settings: ServiceSettings, champion: Any, auth: Any) -> None:
    loads, loader = counting_loader(champion)
    client = make_client(loader=loader, service_settings=quick_retry(settings))
    engine = client.app.state.audit.engine
    with engine.connect() as conn:
        pages = int(conn.exec_driver_sql("PRAGMA page_count").scalar() or 1)
    reconnect(client.app.state.audit)

    @event.listens_for(engine, "connect")
    def _no_room(dbapi_connection: Any, _record: Any) -> None:  # the file may not grow: "database or disk is full"
        dbapi_connection.execute(f"PRAGMA max_page_count={pages + 1}")

    statuses = [client.get("/v1/nowhere", headers=auth("allocator")).status_code for _ in range(400)]
    assert 503 in statuses, "the audit store never filled up"
    first_full = statuses.index(503)
    assert set(statuses[:first_full]) == {404} and set(statuses[first_full:]) == {503}
    assert_refused([client.post("/v1/admin/reload", headers=auth("data_scientist"))])
    assert loads == [True], "the reload ran although it could not be audited"
    assert len(client.app.state.audit.rows()) == first_full
    assert client.get("/healthz").status_code == 200


def test_read_only_store_fails_closed(make_client: Any, settings: ServiceSettings, champion: Any,
                                      auth: Any) -> None:
    """What a disk error remounting the file system read-only looks like to SQLite (chmod cannot show it to a
    root test process): every write answered with 'attempt to write a readonly database'."""
    loads, loader = counting_loader(champion)
    client = make_client(loader=loader, service_settings=quick_retry(settings))
    store = client.app.state.audit
    assert client.get("/v1/programs", headers=auth("allocator")).status_code == 200
    reconnect(store)
    event.listen(store.engine, "connect", lambda dbapi, _r: dbapi.execute("PRAGMA query_only=ON"))
    assert_refused([client.post("/v1/admin/reload", headers=auth("data_scientist"))])
    assert loads == [True]
    assert client.get("/healthz").status_code == 200


def test_removed_store_file_is_refused_not_written_into_the_void(make_client: Any, settings: ServiceSettings,
                                                                 champion: Any, auth: Any) -> None:
    """A database file deleted under the process must not keep taking rows into the unlinked file (WAL does)."""
    loads, loader = counting_loader(champion)
    client = make_client(loader=loader, service_settings=quick_retry(settings))
    assert client.get("/v1/programs", headers=auth("allocator")).status_code == 200
    for path in settings.data_dir.glob("audit.db*"):
        path.unlink()
    assert_refused([client.post("/v1/admin/reload", headers=auth("data_scientist"))])
    time.sleep(0.06)
    assert_refused([client.get("/v1/programs", headers=auth("allocator"))])
    assert loads == [True]
    assert client.get("/healthz").status_code == 200


STORE_SCRIPT = textwrap.dedent('''
    import sys
    from pathlib import Path

    from serving.audit import AuditStore, AuditUnavailableError, Outcome

    path = Path(sys.argv[1])
    store = AuditStore(f"sqlite:///{path}").create()
    outcome = Outcome("/v1/programs", 200, "k1", "allocator", "7", None, 0, 1.0)
    store.finish(store.begin("r1", "GET"), outcome)
    for other in path.parent.glob(path.name + "-*"):  # -shm, -wal or a journal: truncated and made read-only
        other.write_bytes(b"")
        other.chmod(0o444)
    try:
        store.finish(store.begin("r2", "GET"), outcome)
        print("written")
    except AuditUnavailableError as exc:
        print("refused", exc)
''')


def test_truncated_or_read_only_side_files_never_kill_the_process(tmp_path: Path) -> None:
    """A WAL store's -shm is mapped into the process: truncating it (what a failing disk does to it) was a SIGBUS
    on the next write. Run in a child process, so a crash is a failed assertion rather than a dead test run."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", STORE_SCRIPT, str(tmp_path / "audit.db")], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, f"the process died (signal {-done.returncode}): {done.stderr[-500:]}"
    assert done.stdout.startswith(("written", "refused")), done.stdout


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_probes_write_no_row_and_are_counted_per_minute(client: Any, path: str) -> None:
    for _ in range(3):
        assert client.get(path).status_code == 200
    store = client.app.state.audit
    assert store.rows() == []
    assert client.app.state.tally.flush(store)
    assert [(r["endpoint"], r["status"], r["requests"]) for r in store.tally_rows()] == [(path, 200, 3)]


def test_counts_survive_a_store_outage(make_client: Any, settings: ServiceSettings) -> None:
    client = make_client(service_settings=quick_retry(settings))
    store, tally = client.app.state.audit, client.app.state.tally
    assert client.get("/v1/programs").status_code == 401
    holder = sqlite3.connect(settings.data_dir / "audit.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert not tally.flush(store)
        assert client.get("/v1/programs").status_code == 401  # anonymous refusals never wait on the store either
    finally:
        holder.rollback()
        holder.close()
    time.sleep(0.06)
    assert tally.flush(store) and tally.pending() == 0
    assert sum(r["requests"] for r in store.tally_rows()) == 2
