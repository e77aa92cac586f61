"""Hostile bodies get a clear 4xx problem and the service stays up; identifiers echoed back are safe to show.

Complements tests/serving/test_problems.py (NaN/Infinity literals, 100k-deep arrays, malformed JSON, 40k
programmes): here the sizes the issue names, at the production body limit, and identifiers built to abuse echoes.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

PROBLEM = "application/problem+json"
SERVICE_DEFAULT_LIMIT = 2_000_000


@pytest.fixture
def production_limit(make_client: Any, settings: Any) -> Any:
    """An app with the default body limit of ServiceSettings (the shared fixture lowers it)."""
    return make_client(service_settings=settings.model_copy(update={"max_body_bytes": SERVICE_DEFAULT_LIMIT}))


def problem(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code and body["detail"]
    return body


def still_up(client: Any, auth: Any) -> None:
    assert client.get("/readyz").status_code == 200
    assert client.get("/v1/programs", headers=auth("allocator")).status_code == 200


def test_ten_megabyte_body_is_a_413_without_reading_it_all(production_limit: Any, auth: Any) -> None:
    body = b'{"budget": 1000000, "padding": "' + b"x" * 10_000_000 + b'"}'
    problem(production_limit.post("/v1/recommendations", headers={**auth("allocator"),
                                                                   "content-type": "application/json"},
                                  content=body), 413)
    chunks = (b"[" * 1000 for _ in range(10_000))  # streamed without a content-length: counted as it arrives
    problem(production_limit.post("/v1/recommendations", headers={**auth("allocator"),
                                                                   "content-type": "application/json"},
                                  content=chunks), 413)
    still_up(production_limit, auth)


@pytest.mark.parametrize(("path", "role", "body"), [
    ("/v1/recommendations", "allocator", {"budget": 1e6, "programs": {f"P{i:06d}": {} for i in range(100_000)}}),
    ("/v1/scenarios", "allocator", {"scenarios": {"a": {f"P{i:06d}": 1.0 for i in range(100_000)}}}),
    ("/v1/forecasts", "allocator", {"programs": [{"program_id": f"P{i:06d}", "multiples": [1.0]}
                                                 for i in range(100_000)]}),
])
def test_hundred_thousand_programmes_are_refused(production_limit: Any, auth: Any, path: str, role: str,
                                                 body: dict[str, Any]) -> None:
    """Too large a body (413) or more programmes than a request may name (422, naming the field)."""
    answer = problem(production_limit.post(path, headers=auth(role), json=body), 413, 422)
    if answer["status"] == 422:
        assert answer["errors"][0]["field"].startswith("body.")
    still_up(production_limit, auth)


@pytest.mark.parametrize("nested", [
    '{"budget": 1e6, "objective": ' + '{"kind": ' * 5000 + '"x"' + "}" * 5000 + "}",
    '{"budget": 1e6, "groups": ' + "[" * 50_000 + "]" * 50_000 + "}",
    '{"episodes": [' + '{"a": ' * 20_000 + "1" + "}" * 20_000 + "]}",
])
def test_deeply_nested_json_is_a_422(client: Any, auth: Any, nested: str) -> None:
    for path, role in (("/v1/recommendations", "allocator"), ("/v1/patients/risk", "clinician")):
        problem(client.post(path, headers={**auth(role), "content-type": "application/json"}, content=nested), 422)
    still_up(client, auth)


@pytest.mark.parametrize("budget", [-1.0, -1e308, 1e14, 1.7e308, "1e400"])
def test_negative_and_astronomical_budgets_are_a_422_naming_the_budget(client: Any, auth: Any, budget: Any) -> None:
    text = f'{{"budget": {budget}}}'
    body = problem(client.post("/v1/recommendations", headers={**auth("allocator"),
                                                                "content-type": "application/json"},
                               content=text), 422)
    assert body["errors"][0]["field"] == "body.budget"


@pytest.mark.parametrize("budget", [1e-300, 1e-307, 5e-324])
def test_tiny_positive_budget_is_an_answer_or_a_named_conflict(client: Any, auth: Any, budget: float) -> None:
    response = client.post("/v1/recommendations", headers=auth("allocator"), json={"budget": budget})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert abs(sum(a["recommended_funding"] for a in response.json()["allocations"]) - budget) < 1.0


HOSTILE_IDENTIFIERS = [
    "=cmd|' /C calc'!A0", "+SUM(A1:A2)", "-2+3+cmd|' /C calc'!A0", "@SUM(1)",  # spreadsheet formulas
    "P001\u202egnp.exe", "P\u2066001", "P001\x00", "P001\r\nX-Injected: 1", "\x1b[31mred", "   ",
]


@pytest.mark.parametrize("identifier", HOSTILE_IDENTIFIERS)
def test_hostile_identifiers_are_refused_wherever_they_would_be_echoed(client: Any, auth: Any,
                                                                       identifier: str,
                                                                       episode_rows: list[dict[str, Any]]
                                                                       ) -> None:
    calls = [
        ("/v1/scenarios", "allocator", {"scenarios": {identifier: {"P001": 1000.0}}}, "body.scenarios"),
        ("/v1/scenarios", "allocator", {"scenarios": {"a": {identifier: 1000.0}}}, "body.scenarios.a"),
        ("/v1/recommendations", "allocator", {"budget": 1e6, "programs": {identifier: {}}}, "body.programs"),
        ("/v1/recommendations", "allocator", {"budget": 1e6, "groups": [{"column": identifier, "value": "x"}]},
         "body.groups[0].column"),
        ("/v1/forecasts", "allocator", {"programs": [{"program_id": identifier, "multiples": [1.0]}]},
         "body.programs[0].program_id"),
        ("/v1/patients/risk", "clinician", {"episodes": [{**episode_rows[0], "episode_id": identifier}]},
         "body.episodes[0].episode_id"),
        ("/v1/patients/risk", "clinician", {"episodes": [{**episode_rows[0], "program_id": identifier}]},
         "body.episodes[0].program_id"),
    ]
    for path, role, body, field in calls:
        response = client.post(path, headers=auth(role), json=body)
        answer = problem(response, 422)
        assert any(e["field"].startswith(field) for e in answer["errors"]), (field, answer["errors"])
        assert identifier.strip() not in response.text or not identifier.strip()
    still_up(client, auth)


def test_ordinary_unicode_identifiers_still_work(client: Any, auth: Any) -> None:
    name = "Überweisung – Fallstudie 北 📈"
    response = client.post("/v1/scenarios", headers=auth("allocator"), json={"scenarios": {name: {"P001": 1000.0}}})
    assert response.status_code == 200 and name in response.json()["scenarios"]
    unknown = client.post("/v1/forecasts", headers=auth("allocator"),
                          json={"programs": [{"program_id": "Prögramm-ß", "multiples": [1.0]}]})
    assert problem(unknown, 404)["programs"] == ["Prögramm-ß"]


def test_headers_cannot_be_injected_through_echoed_values(client: Any, auth: Any) -> None:
    response = client.post("/v1/forecasts", headers=auth("allocator"), json={"programs": [
        {"program_id": "P999 X-Injected: 1", "multiples": [1.0]}]})
    problem(response, 404)
    assert "x-injected" not in {k.lower() for k in response.headers}
    assert json.loads(response.text)["programs"] == ["P999 X-Injected: 1"]
