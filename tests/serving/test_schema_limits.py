"""Numbers are numbers and the schema lists the allowed instruments.

Pydantic's lax float reads `false` as 0.0, so a weight of `false` used to be accepted; every number a client sends
is now strict (core/numbers.py), and `instrument` is an enum in the OpenAPI document, taken from the input contract.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.contract import INSTRUMENT_NAMES

MONEY = 123_456_789.12
"""A nine-digit amount with cents: more than one programme's budget for a period."""
SHARE = 0.123456789012345


def ident(i: int) -> str:
    """A UUID-length identifier (36 characters), the longest id scheme a department is likely to use."""
    return f"{i:08d}-9a4d-4e7b-8c2f-1d5e6a7b8c9d"


def period(i: int) -> str:
    return f"{2000 + i // 12}-{i % 12 + 1:02d}"


def episode(i: int) -> dict[str, Any]:
    """Every field filled, text as long as real values get."""
    return {"episode_id": ident(i), "patient_id": ident(i), "program_id": ident(0), "period": "2026-Q1",
            "instrument": "PHQ-9", "baseline_score": 21.5, "final_score": 12.25, "dropped_out": False,
            "sessions_attended": 12, "age": 104, "sex": "female", "region": "North East and North Cumbria",
            "payer": "commercial-employer-sponsored", "diagnosis": "generalised_anxiety_disorder",
            "satisfaction": 7.5, "deprivation_decile": 10}


def aggregate_row(i: int) -> dict[str, Any]:
    """One programme-period of counts: six-digit counts and a summed score change printed to 17 digits (as
    Python's json writes a float sum)."""
    return {"program_id": ident(i), "period": "2025-Q1", "modality": "guided_self_help",
            "region": "North East and North Cumbria", "funding": MONEY, "episodes": 999_999, "completers": 999_999,
            "reliable_improvements": 999_999, "dropouts": 999_999, "score_change_sum": -123456.78901234567}


def spec(programs: int = 20, periods: int = 8) -> dict[str, Any]:
    return {"pilot_programs": [ident(i) for i in range(programs)],
            "pre_periods": [period(i) for i in range(periods)],
            "post_periods": [period(i) for i in range(periods, 2 * periods)],
            "controls": [ident(i) for i in range(programs, 2 * programs)], "controls_per_pilot": 2,
            "expected_effect": 0.03, "alpha": 0.05, "power": 0.8}


def pilot(n_spec: dict[str, Any] | None = None, rows: int = 1) -> dict[str, Any]:
    return {"spec": n_spec or spec(), "aggregates": [aggregate_row(i) for i in range(rows)]}


@pytest.mark.parametrize(("route", "body", "field"), [
    ("/v1/recommendations", {"objective": {"kind": "weighted", "weights": {"dropouts": False}}},
     "body.objective.weights.dropouts"),
    ("/v1/recommendations", {"budget": True}, "body.budget"),
    ("/v1/recommendations", {"max_change": "0.3"}, "body.max_change"),
    ("/v1/forecasts", {"programs": [{"program_id": "P001", "multiples": [True]}]}, "body.programs[0].multiples[0]"),
    ("/v1/pilots/evaluate", {**pilot(), "spec": {**spec(), "expected_effect": True}}, "body.spec.expected_effect"),
    ("/v1/pilots/evaluate", {**pilot(), "aggregates": [{**aggregate_row(0), "funding": True}]},
     "body.aggregates[0].funding"),
    ("/v1/patients/risk", {"episodes": [{**episode(0), "baseline_score": False}]}, "body.episodes[0].baseline_score"),
])
def test_a_boolean_or_a_string_is_not_a_number(route: str, body: dict[str, Any], field: str, client: TestClient,
                                                auth: Any) -> None:
    key = auth("clinician" if route == "/v1/patients/risk" else "allocator")
    response = client.post(route, json=body, headers=key)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_whole_numbers_are_still_numbers(client: TestClient, auth: Any) -> None:
    response = client.post("/v1/recommendations", json={"objective": {"kind": "weighted", "weights": {
        "reliable_improvements": 1, "dropouts": -2}}, "max_change": 1}, headers=auth("allocator"))
    assert response.status_code == 200, response.text


def test_an_unknown_instrument_is_a_422_naming_the_field(client: TestClient, auth: Any,
                                                         episode_rows: list[dict[str, Any]]) -> None:
    response = client.post("/v1/patients/risk", json={"episodes": [{**episode_rows[0], "instrument": "PHQ-10"}]},
                           headers=auth("clinician"))
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["body.episodes[0].instrument"]


def test_the_schema_lists_the_registered_instruments(client: TestClient) -> None:
    episode_schema = client.get("/openapi.json").json()["components"]["schemas"]["EpisodeIn"]
    assert episode_schema["properties"]["instrument"]["enum"] == list(INSTRUMENT_NAMES)
    assert set(INSTRUMENT_NAMES) >= {"PHQ-9", "GAD-7"}
