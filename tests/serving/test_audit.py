"""Every request leaves an audit row without patient identifiers or scores; no audit row, no answer."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from sqlalchemy import text

from serving.audit import AuditUnavailableError, Outcome
from serving.logs import JsonFormatter

MARKERS = {"patient_id": "PT-MARKER-5150", "episode_id": "EP-MARKER-8086", "baseline_score": 17.25, "age": 93}


def test_every_request_is_audited_without_patient_data(client: Any, auth: Any, episode_rows: list[dict[str, Any]],
                                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    row = {**episode_rows[0], **MARKERS, "instrument": "PHQ-9"}
    calls = [
        client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": [row]}),
        client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": [{**row, "age": 999}]}),
        client.post("/v1/patients/risk", headers=auth("allocator"), json={"episodes": [row]}),
        client.get("/v1/programs", headers=auth("allocator")),
        client.get("/v1/programs"),
        client.get("/healthz"),
        client.get(f"/v1/patients/{MARKERS['patient_id']}", headers=auth("clinician")),
    ]
    assert [c.status_code for c in calls] == [200, 422, 403, 200, 401, 200, 404]
    assert MARKERS["episode_id"] in calls[0].text  # the caller's own reference comes back to the caller only

    audit = client.app.state.audit
    rows = audit.rows()
    audited = [c for i, c in enumerate(calls) if i not in (4, 5)]  # anonymous refusal and health probe: tallied
    assert [r["status"] for r in rows] == [c.status_code for c in audited]
    first = rows[0]
    assert first["endpoint"] == "/v1/patients/risk" and first["role"] == "clinician" and first["key_id"]
    assert first["model_version"] == "7" and len(first["body_sha256"]) == 64 and first["duration_ms"] > 0
    assert rows[4]["endpoint"] == "unmatched"
    assert client.app.state.tally.flush(audit)
    tallied = {(r["method"], r["endpoint"], r["status"]): r["requests"] for r in audit.tally_rows()}
    assert tallied == {("GET", "/v1/programs", 401): 1, ("GET", "/healthz", 200): 1}
    assert all(r["minute"].second == 0 for r in audit.tally_rows())

    stored = json.dumps([*rows, *audit.tally_rows()], default=str)
    ours = [r for r in caplog.records if r.name.startswith(("carealloc", "uvicorn"))]  # not the test client's
    logged = "\n".join(JsonFormatter().format(r) for r in ours) + json.dumps([r.__dict__ for r in ours], default=str)
    for marker in (MARKERS["patient_id"], MARKERS["episode_id"], "17.25", '"age": 93', "PT-MARKER", "EP-MARKER"):
        assert marker not in stored, marker
        assert marker not in logged, marker
    assert sum(getattr(r, "event", None) == "request" for r in ours) == len(calls)


def test_sqlite_audit_store_uses_a_rollback_journal_not_shared_memory(client: Any) -> None:
    """WAL's -shm file is mapped into the process; serving/audit.py says why the store does without it."""
    assert client.get("/openapi.json").status_code == 200
    with client.app.state.audit.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "truncate"
    assert not list(client.app.state.settings.data_dir.glob("audit.db-shm"))


class BrokenAfterBegin:
    """Accepts the opening row, then cannot record the outcome."""

    def __init__(self, store: Any):
        self.store = store

    def begin(self, request_id: str, method: str) -> int:
        return int(self.store.begin(request_id, method))

    def finish(self, row_id: int, outcome: Outcome) -> None:
        raise AuditUnavailableError("disk full")

    def admit(self) -> None:
        self.store.admit()

    def add_tally(self, counts: Any) -> None:
        self.store.add_tally(counts)

    @property
    def available(self) -> bool:
        return bool(self.store.available)

    def close(self) -> None:
        self.store.close()


def test_audit_store_down_means_503_and_nothing_done(make_client: Any, champion: Any, auth: Any) -> None:
    loads: list[bool] = []

    def loader(*, allow_cache: bool) -> Any:
        loads.append(allow_cache)
        return champion

    client = make_client(loader=loader)
    with client.app.state.audit.engine.begin() as conn:
        conn.execute(text("DROP TABLE audit_log"))
    response = client.post("/v1/admin/reload", headers=auth("data_scientist"))
    assert response.status_code == 503 and response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("audit-unavailable")
    assert loads == [True], "the reload ran although it could not be audited"


def test_answer_is_withheld_when_its_audit_row_cannot_be_completed(client: Any, auth: Any,
                                                                   episode_rows: list[dict[str, Any]]) -> None:
    client.app.state.audit = BrokenAfterBegin(client.app.state.audit)
    response = client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": [episode_rows[0]]})
    assert response.status_code == 503
    assert "risk" not in response.json() and "episodes" not in response.text
    assert client.get("/openapi.json").status_code == 503  # nothing at all is served unaudited
    assert client.get("/healthz").status_code == 200  # liveness never depends on the store


def test_json_log_lines_carry_only_whitelisted_fields() -> None:
    record = logging.LogRecord("carealloc.serving", logging.INFO, __file__, 1, "request", None, None)
    record.route, record.status, record.patient_id = "/v1/programs", 200, "PT-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["route"] == "/v1/programs" and line["status"] == 200 and "patient_id" not in line


def test_audit_rows_resume_once_the_store_is_back(make_client: Any, settings: Any) -> None:
    """Writes keep a connection open; one that failed is dropped, and once the breaker lets a write through again
    the next request writes on a fresh one."""
    from serving.audit import metadata

    client = make_client(service_settings=settings.model_copy(update={"audit_retry_seconds": 0.05}))
    store = client.app.state.audit
    assert client.get("/openapi.json").status_code == 200
    with store.engine.begin() as conn:
        conn.execute(text("DROP TABLE audit_log"))
    assert client.get("/openapi.json").status_code == 503
    assert client.get("/readyz").status_code == 503  # ready again only once a write has succeeded
    metadata.create_all(store.engine)
    time.sleep(0.06)
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert [r["status"] for r in store.rows()] == [200]  # the row of the request after the store came back


def test_a_connection_dropped_under_the_store_is_replaced_without_failing_a_request(client: Any) -> None:
    """As a database server closing an idle connection would: the write is retried once on a fresh connection."""
    store = client.app.state.audit
    assert client.get("/openapi.json").status_code == 200
    kept = list(store._opened)
    assert kept, "the audit rows are written on a kept-open connection"
    for connection in kept:
        connection.connection.dbapi_connection.close()
    assert client.get("/openapi.json").status_code == 200
    assert [r["status"] for r in store.rows()] == [200, 200]
    assert not set(map(id, store._opened)) & set(map(id, kept))  # the closed one was replaced
