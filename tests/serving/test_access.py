"""Every route x every role: allowed, 403 or public; 401 without or with a bad key. Generated from the app's routes,
so a new route fails here until it has an access rule and an entry below."""

from __future__ import annotations

from typing import Any

import pytest

from serving.app import create_app
from serving.security import route_rules
from serving.settings import ServiceSettings

ROLES = ("allocator", "clinician", "data_scientist")
PUBLIC = "public"
EXPECTED: dict[str, Any] = {
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": {"data_scientist"},  # public only with metrics_public (test_endpoints.py)
    "GET /v1/models": set(ROLES),
    "GET /v1/programs": set(ROLES),
    "POST /v1/forecasts": {"allocator", "data_scientist"},
    "POST /v1/recommendations": {"allocator", "data_scientist"},
    "POST /v1/scenarios": {"allocator", "data_scientist"},
    "POST /v1/patients/risk": {"clinician"},
    "POST /v1/admin/reload": {"data_scientist"},
    "POST /v1/pilots/evaluate": {"allocator", "data_scientist"},
    "POST /v1/reports": {"allocator", "data_scientist"},
    "GET /v1/review/kpis": {"allocator", "data_scientist"},
    "GET /v1/review/plans": {"allocator", "data_scientist"},
    "GET /v1/review/plans/{plan_id}": {"allocator", "data_scientist"},
    "GET /v1/review/latest": {"allocator", "data_scientist"},
    "POST /v1/review": {"allocator", "data_scientist"},
    "POST /v1/saved-scenarios": {"allocator", "data_scientist"},
    "GET /v1/saved-scenarios": {"allocator", "data_scientist"},
    "GET /v1/saved-scenarios/{scenario_id}": {"allocator", "data_scientist"},
    "PATCH /v1/saved-scenarios/{scenario_id}": {"allocator", "data_scientist"},
    "DELETE /v1/saved-scenarios/{scenario_id}": {"allocator", "data_scientist"},
    # web pages: signed in with a session cookie, tested role by role in tests/serving/test_pages.py
    "GET /": PUBLIC,
    "GET /signin": PUBLIC,
    "POST /signin": PUBLIC,
    "POST /signout": PUBLIC,
    "GET /pages/allocator": {"allocator", "data_scientist"},
    "POST /pages/allocator/allocation.csv": {"allocator", "data_scientist"},
    "POST /pages/allocator/allocation.xlsx": {"allocator", "data_scientist"},
    "GET /pages/clinician": {"clinician"},
    "POST /pages/clinician/episodes": {"clinician"},
    "GET /pages/models": {"data_scientist"},
    "GET /pages/outcomes": {"allocator", "data_scientist"},
}
PAGE_ROUTES = {name for name in EXPECTED if name.split(" ", 1)[1] in ("/", "/signin", "/signout")
               or name.split(" ", 1)[1].startswith("/pages/")}
BODIES: dict[str, Any] = {
    "POST /v1/forecasts": {"programs": [{"program_id": "P001", "multiples": [1.0]}]},
    "POST /v1/recommendations": "budget",  # filled with the bundle's total funding
    "POST /v1/scenarios": {"scenarios": {"a": {"P001": 1000.0}}},
    "POST /v1/reports": {"max_change": 0.3},
    "POST /v1/review": {"period": "2025-Q4"},
    "POST /v1/patients/risk": "episodes",
    "POST /v1/saved-scenarios": {"name": "rural floor", "request": {"max_change": 0.3}},
    "PATCH /v1/saved-scenarios/{scenario_id}": {"shared": True},
    "POST /v1/pilots/evaluate": {
        "spec": {"pilot_programs": ["A", "B"], "pre_periods": ["2025-Q1"], "post_periods": ["2025-Q2"],
                 "controls": ["C", "D"]},
        "aggregates": [{"program_id": p, "period": f"2025-Q{q}", "modality": "telehealth", "funding": 1000.0,
                        "episodes": 100, "completers": 60, "reliable_improvements": ri, "dropouts": 40,
                        "score_change_sum": 3.0 * ri}
                       for p, ris in {"A": (20, 40), "B": (30, 46), "C": (20, 24), "D": (30, 36)}.items()
                       for q, ri in ((1, ris[0]), (2, ris[1]))]},
}
SUCCESS = {"POST /v1/saved-scenarios": 201, "DELETE /v1/saved-scenarios/{scenario_id}": 204}
"""Allowed calls answer 200 unless named here."""


def app_routes() -> list[str]:
    return sorted(route_rules(create_app(ServiceSettings(data_dir="unused")).routes))


ROUTES = app_routes()


def test_every_route_has_an_expected_rule() -> None:
    assert set(ROUTES) == set(EXPECTED), "a route was added or removed: give it an access rule and a row in EXPECTED"
    rules = route_rules(create_app(ServiceSettings(data_dir="unused")).routes)
    for name, rule in rules.items():
        assert (PUBLIC if rule is None else set(rule)) == EXPECTED[name], name


def _call(client: Any, name: str, headers: dict[str, str], episode_rows: list[dict[str, Any]]) -> Any:
    method, path = name.split(" ", 1)
    body = BODIES.get(name)
    if body == "budget":
        total = sum(p["current_funding"] for p in client.get("/v1/programs", headers=headers).json().get(
            "programs", [])) or 1e6
        body = {"budget": total}
    elif body == "episodes":
        body = {"episodes": [episode_rows[0]]}
    if "{plan_id}" in path:  # a plan this caller issued, where it may issue one (otherwise any id: refused first)
        issued = client.post("/v1/recommendations", headers=headers, json={"max_change": 0.3})
        plan = issued.headers.get("Location", "/v1/review/plans/none").rsplit("/", 1)[1]
        path = path.replace("{plan_id}", plan)
    if "{scenario_id}" in path:  # a scenario this caller saved, where it may save one
        saved = client.post("/v1/saved-scenarios", headers=headers, json=BODIES["POST /v1/saved-scenarios"])
        scenario = saved.headers.get("Location", "/00000000-0000-0000-0000-000000000000").rsplit("/", 1)[1]
        path = path.replace("{scenario_id}", scenario)
    if path == "/v1/review/latest" and client.app.state.reviews.latest() is None:  # one review to read
        client.app.state.reviews.save("2025-Q4", "7", {"alerts": 0.0}, [], None)
    return client.request(method, path, headers=headers, json=body)


@pytest.mark.parametrize("name", [r for r in ROUTES if r not in PAGE_ROUTES])
def test_role_matrix(name: str, client: Any, auth: Any, episode_rows: list[dict[str, Any]]) -> None:
    expected = EXPECTED[name]
    for role in ROLES:
        headers = auth(role)
        response = _call(client, name, headers, episode_rows)
        if expected == PUBLIC or role in expected:
            if name == "POST /v1/review":  # past the role check: this client has no data folder to review
                assert response.json()["type"].endswith("review-data-not-configured"), response.text
                continue
            assert response.status_code == SUCCESS.get(name, 200), (name, role, response.text)
        else:
            assert response.status_code == 403, (name, role, response.status_code)
            assert response.headers["content-type"] == "application/problem+json"
    anonymous = _call(client, name, {}, episode_rows)
    wrong = _call(client, name, {"X-API-Key": "ca_aaaaaaaaaaaa_not-the-secret"}, episode_rows)
    if expected == PUBLIC:
        assert anonymous.status_code == 200
    else:
        assert anonymous.status_code == 401 and wrong.status_code == 401
        assert anonymous.headers["www-authenticate"] == "ApiKey"
        assert anonymous.json()["status"] == 401


def test_limited_clinician_only_scores_own_programmes(client: Any, auth: Any, episode_rows: list[dict[str, Any]]
                                                      ) -> None:
    own = next(r for r in episode_rows if r["program_id"] == "P001")
    response = client.post("/v1/patients/risk", headers=auth("limited_clinician"), json={"episodes": [own]})
    assert response.status_code == 200
    other = {**own, "episode_id": "x2", "program_id": "P002"}
    refused = client.post("/v1/patients/risk", headers=auth("limited_clinician"), json={"episodes": [own, other]})
    assert refused.status_code == 403
    assert "P002" in refused.json()["detail"] and "x2" not in refused.text


def test_key_with_valid_id_but_wrong_secret_is_refused(client: Any, keys: Any) -> None:
    plaintext, record = keys["data_scientist"]
    forged = f"ca_{record.key_id}_{'x' * 43}"
    assert client.get("/v1/models", headers={"X-API-Key": forged}).status_code == 401
    assert client.get("/v1/models", headers={"X-API-Key": plaintext}).status_code == 200
