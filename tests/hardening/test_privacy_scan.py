"""Patients with recognisable identifiers, scores and dates of birth go through every patient path (answered,
refused, limited, malformed); then the logs, /metrics, the audit rows and every error answer are scanned for them.
tests/conftest.py repeats the log and audit scan over the whole test run at its end."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from serving.logs import LOGGER
from tests.hardening.privacy import Recorder, audit_text, findings

DOB = "1931-07-14"
SCORE = 19.375
MARKED = {"patient_id": "PT88990011", "baseline_score": SCORE, "age": 87}
BAD_AGE = 90817263
"""Long enough that no timestamp, thread id or duration in a log record holds it by chance (four digits did)."""


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    handler = Recorder()
    logger = logging.getLogger(LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_no_patient_data_in_logs_metrics_audit_or_errors(make_client: Any, settings: Any, auth: Any,
                                                         episode_rows: list[dict[str, Any]], recorder: Recorder,
                                                         capfd: pytest.CaptureFixture[str]) -> None:
    client = make_client()
    limited = make_client(service_settings=settings.model_copy(update={
        "rate_limit_burst": 2, "rate_limit_per_minute": 1.0, "audit_url": f"sqlite:///{settings.data_dir}/l/audit.db"}))
    others = [r for r in episode_rows if r["program_id"] != "P001"][:25]
    rows = [{**row, **MARKED, "episode_id": f"EPMARK{i}", "instrument": "PHQ-9"} for i, row in
            enumerate([*episode_rows[:25], *others])]
    clinician = auth("clinician")
    json_headers = {**clinician, "content-type": "application/json"}
    answers = {
        "scored": client.post("/v1/patients/risk", headers=clinician, json={"episodes": rows}),
        "bad age": client.post("/v1/patients/risk", headers=clinician,
                               json={"episodes": [{**rows[0], "age": BAD_AGE}]}),
        "date of birth": client.post("/v1/patients/risk", headers=clinician,
                                     json={"episodes": [{**rows[0], "date_of_birth": DOB}]}),
        "unseen payer": client.post("/v1/patients/risk", headers=clinician,
                                    json={"episodes": [{**rows[0], "payer": f"PAYER {DOB}"}]}),
        "score off scale": client.post("/v1/patients/risk", headers=clinician,
                                       json={"episodes": [{**rows[0], "baseline_score": 27.625}]}),
        "NaN": client.post("/v1/patients/risk", headers=json_headers,
                           content=json.dumps({"episodes": [rows[0]]}).replace(f'"age": {MARKED["age"]}',
                                                                                 '"age": NaN')),
        "unknown programme": client.post("/v1/patients/risk", headers=clinician,
                                         json={"episodes": [{**rows[0], "program_id": "P999"}]}),
        "other programme": client.post("/v1/patients/risk", headers=auth("limited_clinician"),
                                       json={"episodes": [r for r in rows if r["program_id"] != "P001"][:3]}),
        "wrong role": client.post("/v1/patients/risk", headers=auth("allocator"), json={"episodes": rows[:3]}),
        "no key": client.post("/v1/patients/risk", json={"episodes": rows[:3]}),
        "path": client.get(f"/v1/patients/{MARKED['patient_id']}", headers=clinician),
    }
    answers |= {f"limited {i}": limited.post("/v1/patients/risk", headers=clinician, json={"episodes": rows[:2]})
                for i in range(4)}
    statuses = {name: a.status_code for name, a in answers.items()}
    assert statuses == {"scored": 200, "bad age": 422, "date of birth": 422, "unseen payer": 422,
                        "score off scale": 422, "NaN": 422, "unknown programme": 404, "other programme": 403,
                        "wrong role": 403, "no key": 401, "path": 404, "limited 0": 200, "limited 1": 200,
                        "limited 2": 429, "limited 3": 429}
    assert [e["ref"] for e in answers["scored"].json()["episodes"]][:2] == ["EPMARK0", "EPMARK1"]

    patient_ids = {str(r["patient_id"]) for r in episode_rows}
    markers = [MARKED["patient_id"], "EPMARK", DOB, str(SCORE), "27.625", str(BAD_AGE), *sorted(patient_ids)]
    errors = "\n".join(a.text for name, a in answers.items() if a.status_code != 200)
    metrics = (client.get("/metrics", headers=auth("data_scientist")).text
               + limited.get("/metrics", headers=auth("data_scientist")).text)
    out, err = capfd.readouterr()
    scanned = {"logs": recorder.text(), "metrics": metrics, "audit": audit_text([settings.data_dir]),
               "error answers": errors, "stdout/stderr": out + err}
    assert len(recorder.records) >= len(answers) and scanned["audit"].count("/v1/patients/risk") >= 10
    for place, text in scanned.items():
        assert findings(text, markers) == [], place
