"""POST /v1/pilots/evaluate: aggregates in, effects out; roles, field limits and 422s naming the field."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from pilots import program_period_aggregates

PRE = ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4"]
POST = ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"]
URL = "/v1/pilots/evaluate"


@pytest.fixture(scope="module")
def aggregates(small_world: Any) -> list[dict[str, Any]]:
    _, programs, episodes = small_world
    return program_period_aggregates(programs, episodes).to_dict(orient="records")


def _body(aggregates: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    base = {"pilot_programs": ["P001", "P002", "P003"], "pre_periods": PRE, "post_periods": POST,
            "controls": "auto"}
    return {"spec": {**base, **spec}, "aggregates": aggregates}


def test_evaluates_a_pilot_from_aggregates(client: TestClient, auth: Any, aggregates: list[dict[str, Any]]) -> None:
    response = client.post(URL, headers=auth("allocator"), json=_body(aggregates, expected_effect=0.02))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["pilot_programs"] == ["P001", "P002", "P003"] and len(body["control_programs"]) == 6
    itt = body["effects"][0]
    assert itt["metric"] == "reliable_improvement_itt"
    did = itt["difference_in_differences"]
    assert did["ci_low"] < did["estimate"] < did["ci_high"] and did["clusters"] == 9
    assert "Satterthwaite" in did["method"]
    assert body["power"]["before"]["mde"] > 0.02
    assert any(w.startswith("pilot too small") for w in body["warnings"])
    assert {row["group"] for row in body["series"]} == {"pilot", "control"}


def test_data_scientists_too_clinicians_not(client: TestClient, auth: Any, aggregates: list[dict[str, Any]]) -> None:
    assert client.post(URL, headers=auth("data_scientist"), json=_body(aggregates)).status_code == 200
    refused = client.post(URL, headers=auth("clinician"), json=_body(aggregates))
    assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
    assert client.post(URL, json=_body(aggregates)).status_code == 401


@pytest.mark.parametrize(("spec", "field", "detail"), [
    ({"pre_periods": ["2023-Q1"]}, "body.spec.pre_periods", "not in the data"),
    ({"pilot_programs": ["P001", "NOPE"]}, "body.spec.pilot_programs", "unknown programme(s) ['NOPE']"),
    ({"controls": ["P004"]}, "body.spec.controls", "1 control programme(s)"),
    ({"controls": ["P001", "P004"]}, "body.spec", "pilot and control groups overlap"),
])
def test_bad_specs_are_422_naming_the_field(client: TestClient, auth: Any, aggregates: list[dict[str, Any]],
                                            spec: dict[str, Any], field: str, detail: str) -> None:
    response = client.post(URL, headers=auth("allocator"), json=_body(aggregates, **spec))
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"] == field for e in problem["errors"]), problem
    assert detail in problem["detail"] or any(detail in e["message"] for e in problem["errors"])


def test_bad_aggregates_are_422_naming_the_row(client: TestClient, auth: Any,
                                               aggregates: list[dict[str, Any]]) -> None:
    rows = [dict(r) for r in aggregates]
    rows[5]["completers"] = rows[5]["episodes"] + 1
    response = client.post(URL, headers=auth("allocator"), json=_body(rows))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.aggregates[5]"
    duplicated = client.post(URL, headers=auth("allocator"), json=_body([*aggregates, aggregates[0]]))
    assert duplicated.status_code == 422
    assert duplicated.json()["errors"][0]["field"] == f"body.aggregates[{len(aggregates)}]"
    assert "appears more than once" in duplicated.json()["detail"]
    empty = client.post(URL, headers=auth("allocator"), json={"spec": _body(aggregates)["spec"], "aggregates": []})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "body.aggregates"
    unknown = client.post(URL, headers=auth("allocator"), json={**_body(aggregates), "patients": []})
    assert unknown.status_code == 422
