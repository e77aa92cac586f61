"""POST /v1/recommendations with whole units, min_viable and resource limits: units in the answer, 422s that name
the field and the conflict."""

from __future__ import annotations

from typing import Any

import pytest

from tests.serving.test_problems import problem

pytestmark = pytest.mark.usefixtures("client")


def _programmes(client: Any, headers: dict[str, str]) -> list[dict[str, Any]]:
    programmes: list[dict[str, Any]] = client.get("/v1/programs", headers=headers).json()["programs"]
    return programmes


def test_whole_ftes_and_staff_hours_come_back_per_cell(client: Any, auth: Any) -> None:
    headers = auth("allocator")
    first, second, *_ = _programmes(client, headers)
    salary = round(first["current_funding"] / 6, -3)
    hours = {"name": "therapist-hours", "available": 10 * 1_600, "per_unit": {first["program_id"]: 1_600}}
    response = client.post("/v1/recommendations", headers=headers, json={
        "max_change": 0.5, "resources": [hours],
        "programs": {first["program_id"]: {"step": salary, "unit": "FTE"},
                     second["program_id"]: {"min_viable": 0.9 * second["current_funding"]}}})
    assert response.status_code == 200, response.text
    body = response.json()
    rows = {a["program_id"]: a for a in body["allocations"]}
    stepped = rows[first["program_id"]]
    assert stepped["unit"] == "FTE" and stepped["units_label"] == f"{stepped['units']} FTE"
    assert stepped["recommended_funding"] == pytest.approx(stepped["units"] * salary, abs=1e-6)
    assert rows[second["program_id"]]["units"] is None
    assert rows[second["program_id"]]["recommended_funding"] >= 0.9 * second["current_funding"] - 1e-6
    used = body["resources"][0]
    assert used["name"] == "therapist-hours" and used["used"] == pytest.approx(1_600 * stepped["units"])
    assert used["used"] <= used["available"]
    assert body["solver"]["method"] == "mixed_integer" and body["optimality_gap"]["reference_exact"]


@pytest.mark.parametrize(("limits", "field", "words"), [
    ({"min": 100_000.0, "max": 150_000.0, "step": 60_000.0}, "step", "larger than the cell's range"),
    ({"max": 150_000.0, "min_viable": 200_000.0}, "min_viable", "above max 150,000"),
])
def test_unit_rules_that_contradict_the_cell_name_the_field(client: Any, auth: Any, limits: dict[str, Any],
                                                            field: str, words: str) -> None:
    headers = auth("allocator")
    pid = _programmes(client, headers)[0]["program_id"]
    body = problem(client.post("/v1/recommendations", headers=headers, json={"programs": {pid: limits}}), 422)
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert f"body.programs.{pid}.{field}" in fields and words in fields[f"body.programs.{pid}.{field}"], fields


def test_per_unit_use_without_a_step_is_a_422(client: Any, auth: Any) -> None:
    headers = auth("allocator")
    pid = _programmes(client, headers)[0]["program_id"]
    body = problem(client.post("/v1/recommendations", headers=headers, json={
        "resources": [{"name": "hours", "available": 100, "per_unit": {pid: 1_600}}]}), 422)
    assert f"resources[0].per_unit.{pid}" in str(body["errors"]) and "has no step" in str(body["errors"])


def test_a_step_wider_than_the_forecast_range_is_an_infeasible_422(client: Any, auth: Any) -> None:
    headers = auth("allocator")
    first = _programmes(client, headers)[0]
    body = problem(client.post("/v1/recommendations", headers=headers, json={
        "max_change": 0.1, "programs": {first["program_id"]: {"step": first["current_funding"], "unit": "FTE"}}}),
        422)
    assert body["type"].endswith("infeasible-constraints")
    assert any(first["program_id"] in c and "step" in c and "larger than its range" in c for c in body["conflicts"])


def test_staff_hours_no_plan_can_meet_are_an_infeasible_422(client: Any, auth: Any) -> None:
    headers = auth("allocator")
    first = _programmes(client, headers)[0]
    salary = round(first["current_funding"] / 4, -3)
    body = problem(client.post("/v1/recommendations", headers=headers, json={
        "max_change": 0.3, "programs": {first["program_id"]: {"step": salary, "unit": "FTE"}},
        "resources": [{"name": "therapist-hours", "available": 1_000, "per_unit": {first["program_id"]: 1_600}}]}),
        422)
    assert body["type"].endswith("infeasible-constraints")
    assert any("resource therapist-hours" in c for c in body["conflicts"]), body["conflicts"]
