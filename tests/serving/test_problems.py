"""Errors are RFC 9457 problem documents; no client input produces a 500; patient values are never echoed."""

from __future__ import annotations

import json
from typing import Any

import pytest

PROBLEM = "application/problem+json"


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].startswith("urn:carealloc:problem:") and body["title"]
    return body


def test_422_names_the_field_path_and_what_was_expected(client: Any, auth: Any) -> None:
    body = problem(client.post("/v1/recommendations", headers=auth("allocator"),
                               json={"budget": "lots", "groups": [{"column": "region", "value": "x"}]}), 422)
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert "body.budget" in fields and "number" in fields["body.budget"]
    assert "body.groups[0]" in fields
    assert all("input" not in e for e in body["errors"])


def test_infeasible_constraints_are_a_422_naming_the_conflict(client: Any, auth: Any) -> None:
    body = problem(client.post("/v1/recommendations", headers=auth("allocator"), json={
        "budget": 1000.0, "programs": {"P001": {"min": 500000.0}}}), 422)
    assert body["type"].endswith("infeasible-constraints")
    assert body["conflicts"] and any("P001" in c for c in body["conflicts"])


@pytest.mark.parametrize(("limits", "field", "words"), [
    ({"programs": {"P002": {"min": 900000.0, "max": 1000.0}}}, "body.programs.P002.max", "below min 900,000"),
    ({"groups": [{"column": "region", "value": "rural", "min_share": 0.5, "max_share": 0.2}]},
     "body.groups[0].max_share", "below min_share 0.5"),
])
def test_min_above_max_names_the_field_path(client: Any, auth: Any, limits: dict[str, Any], field: str,
                                            words: str) -> None:
    body = problem(client.post("/v1/recommendations", headers=auth("allocator"), json={"budget": 1e6, **limits}),
                   422)
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert field in fields and words in fields[field], fields
    assert "ProgramBounds" not in str(body) and "GroupShare" not in str(body)


def test_zero_budget_is_a_422_not_a_500(client: Any, auth: Any) -> None:
    problem(client.post("/v1/recommendations", headers=auth("allocator"), json={"budget": 0}), 422)


@pytest.mark.parametrize(("path", "role", "body"), [
    ("/v1/forecasts", "allocator", {"programs": [{"program_id": "P999", "multiples": [1.0]}]}),
    ("/v1/recommendations", "allocator", {"budget": 1e6, "programs": {"P999": {"min": 1.0}}}),
    ("/v1/scenarios", "allocator", {"scenarios": {"a": {"P999": 1.0}}}),
])
def test_unknown_programme_is_a_404(client: Any, auth: Any, path: str, role: str, body: dict[str, Any]) -> None:
    assert "P999" in problem(client.post(path, headers=auth(role), json=body), 404)["detail"]


def test_unknown_programme_in_risk_is_a_404(client: Any, auth: Any, episode_rows: list[dict[str, Any]]) -> None:
    row = {**episode_rows[0], "program_id": "P999"}
    problem(client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": [row]}), 404)


def test_forecast_beyond_the_curve_is_a_422_with_field(client: Any, auth: Any) -> None:
    body = problem(client.post("/v1/forecasts", headers=auth("allocator"), json={
        "programs": [{"program_id": "P001", "funding": [1e12]}]}), 422)
    assert body["errors"][0]["field"] == "body.programs[0].funding"


def test_oversized_body_is_a_413(client: Any, auth: Any) -> None:
    big = {"budget": 1e6, "programs": {f"P{i:06d}": {"min": 1.0} for i in range(40_000)}}
    problem(client.post("/v1/recommendations", headers=auth("allocator"), json=big), 413)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_are_a_422(client: Any, auth: Any, literal: str) -> None:
    body = problem(client.post("/v1/recommendations", headers={**auth("allocator"), "content-type": "application/json"},
                               content=f'{{"budget": {literal}}}'), 422)
    assert body["errors"][0]["field"] == "body.budget"


def test_non_finite_in_patient_body_is_a_422_without_echo(client: Any, auth: Any,
                                                          episode_rows: list[dict[str, Any]]) -> None:
    text = json.dumps({"episodes": [episode_rows[0]]}).replace('"age": ', '"age": NaN, "x": ')
    body = problem(client.post("/v1/patients/risk", headers={**auth("clinician"), "content-type": "application/json"},
                               content=text), 422)
    assert body["errors"][0]["field"] == "body.episodes[0].age"


@pytest.mark.parametrize("content", ["", "{", "[]", "null", '"text"', "[" * 100_000 + "]" * 100_000,
                                     '{"budget": 1' + "0" * 5000 + "}", '{"budget": {"a": []}}', "\xff\xfe"])
def test_malformed_bodies_never_produce_a_500(client: Any, auth: Any, content: str) -> None:
    for path, role in (("/v1/recommendations", "allocator"), ("/v1/patients/risk", "clinician"),
                       ("/v1/scenarios", "allocator"), ("/v1/forecasts", "allocator")):
        response = client.post(path, headers={**auth(role), "content-type": "application/json"},
                               content=content.encode("utf-8", "surrogateescape"))
        assert response.status_code in (413, 422), (path, content[:20], response.status_code)
        assert response.headers["content-type"] == PROBLEM


SECRET_VALUES = {"patient_id": "PT-SECRET-4242", "baseline_score": 987654.5, "age": 4321,
                 "payer": "Z" * 150, "satisfaction": 77.75, "sessions_attended": -31337}


def test_patient_validation_errors_never_echo_submitted_values(client: Any, auth: Any,
                                                               episode_rows: list[dict[str, Any]]) -> None:
    row = {**episode_rows[0], **SECRET_VALUES, "period": "PERIOD-SECRET-99", "instrument": "INSTR-SECRET"}
    response = client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": [row], "extra": "X1"})
    body = problem(response, 422)
    fields = {e["field"] for e in body["errors"]}
    assert {"body.episodes[0].age", "body.episodes[0].payer", "body.episodes[0].period",
            "body.episodes[0].instrument", "body.episodes[0].satisfaction"} <= fields
    for secret in ("PT-SECRET", "987654", "4321", "ZZZZ", "77.75", "31337", "PERIOD-SECRET", "INSTR-SECRET"):
        assert secret not in response.text, secret


def test_baseline_outside_the_instrument_scale_names_the_field(client: Any, auth: Any,
                                                               episode_rows: list[dict[str, Any]]) -> None:
    row = {**episode_rows[0], "instrument": "PHQ-9", "baseline_score": 31.5}
    body = problem(client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": [row]}), 422)
    assert body["errors"][0]["field"] == "body.episodes[0].baseline_score" and "0 to 27" in body["errors"][0]["message"]
    assert "31.5" not in json.dumps(body)


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("payer", "crypto-insurance", "medicaid"), ("region", "atlantis", "urban"), ("sex", "unrecorded-x", "F")])
def test_unseen_category_is_a_422_naming_field_and_allowed_values(client: Any, auth: Any, field: str, value: str,
                                                                  allowed: str,
                                                                  episode_rows: list[dict[str, Any]]) -> None:
    rows = [episode_rows[0], {**episode_rows[1], field: value}]
    body = problem(client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": rows}), 422)
    assert body["type"].endswith("unseen-category")
    assert body["errors"][0]["field"] == f"body.episodes[1].{field}"
    assert allowed in body["errors"][0]["message"] and value not in json.dumps(body)


def test_instrument_the_model_never_saw_is_a_422(client: Any, auth: Any, episode_rows: list[dict[str, Any]]) -> None:
    row = {**episode_rows[0], "instrument": "ODI", "baseline_score": 40.0}
    body = problem(client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": [row]}), 422)
    assert body["errors"][0]["field"] == "body.episodes[0].instrument"
    assert "PHQ-9" in body["errors"][0]["message"]


def test_unknown_route_and_method_are_problems(client: Any, auth: Any) -> None:
    problem(client.get("/v1/nothing-here", headers=auth("allocator")), 404)
    problem(client.get("/v1/recommendations", headers=auth("allocator")), 405)
