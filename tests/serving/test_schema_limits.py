"""The body limits agree with each other, numbers are numbers, and the schema lists the allowed instruments.

Every array (maxItems) and map (maxProperties) limit in the request schemas is checked one at a time: a body with
that many items, each as large as a real client would make it (see `ident`, `MONEY`, `episode`, `aggregate_row`),
must fit the default max_body_bytes, and one item more must be refused with a 422 that names the field, not a 413.
A limit the table below does not know fails the test, so a new limit is checked from the day it is added.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from features.contract import INSTRUMENT_NAMES
from serving.settings import DEFAULT_MAX_BODY_BYTES, ServiceSettings

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


def limits(i: int) -> dict[str, Any]:
    return {"min": MONEY / 10, "max": MONEY, "step": 85_000.5, "unit": "therapist FTE", "min_viable": MONEY / 5,
            "no_decrease": False}


def spec(programs: int = 20, periods: int = 8) -> dict[str, Any]:
    return {"pilot_programs": [ident(i) for i in range(programs)],
            "pre_periods": [period(i) for i in range(periods)],
            "post_periods": [period(i) for i in range(periods, 2 * periods)],
            "controls": [ident(i) for i in range(programs, 2 * programs)], "controls_per_pilot": 2,
            "expected_effect": 0.03, "alpha": 0.05, "power": 0.8}


def tier(i: int) -> dict[str, Any]:
    return {"threshold": 0.2 + i * 0.03, "lump_sum": MONEY, "per_point": MONEY / 100}


def contract(i: int) -> dict[str, Any]:
    """A payer contract as a department writes one: a long payer name, a measured population, three tiers and a
    penalty."""
    return {"contract_id": ident(i), "payer": "North East and North Cumbria Integrated Care Board",
            "population": {"payer": "commercial-employer-sponsored", "instrument": "PHQ-9", "min_baseline": 10,
                           "basis": "itt"},
            "metric": "reliable_improvement", "target": 0.2, "tiers": [tier(t) for t in range(3)],
            "penalty": {"below": 0.1, "lump_sum": MONEY, "per_point": MONEY / 100}, "min_sample": 30,
            "period": "quarter"}


def pilot(n_spec: dict[str, Any] | None = None, rows: int = 1) -> dict[str, Any]:
    return {"spec": n_spec or spec(), "aggregates": [aggregate_row(i) for i in range(rows)]}


def scenario(programmes: int = 100) -> dict[str, float]:
    return {ident(j): MONEY for j in range(programmes)}


Body = Callable[[int], dict[str, Any]]
CASES: dict[tuple[str, str], tuple[str, str, Body]] = {
    # (schema component, property): (route, field named in the 422, body with n items)
    ("RiskCreate", "episodes"): ("/v1/patients/risk", "body.episodes",
                                 lambda n: {"top_factors": 10, "episodes": [episode(i) for i in range(n)]}),
    ("ForecastCreate", "programs"): ("/v1/forecasts", "body.programs", lambda n: {"programs": [
        {"program_id": ident(i), "funding": [MONEY] * 200} for i in range(n)]}),
    ("ForecastItem", "funding"): ("/v1/forecasts", "body.programs[0].funding", lambda n: {"programs": [
        {"program_id": ident(0), "funding": [MONEY] * n}]}),
    ("ForecastItem", "multiples"): ("/v1/forecasts", "body.programs[0].multiples", lambda n: {"programs": [
        {"program_id": ident(0), "multiples": [1 + SHARE] * n}]}),
    ("RecommendationRequest", "programs"): ("/v1/recommendations", "body.programs", lambda n: {
        "budget": MONEY, "programs": {ident(i): limits(i) for i in range(n)}}),
    ("RecommendationRequest", "groups"): ("/v1/recommendations", "body.groups", lambda n: {"groups": [
        {"column": "region", "value": ident(i), "min_share": SHARE, "max_share": 1 - SHARE} for i in range(n)]}),
    ("RecommendationRequest", "resources"): ("/v1/recommendations", "body.resources", lambda n: {"resources": [
        {"name": ident(i), "available": MONEY, "per_money": {ident(i): SHARE}} for i in range(n)]}),
    ("RecommendationRequest", "scenarios"): ("/v1/recommendations", "body.scenarios", lambda n: {
        "scenarios": {f"scenario-{i}": scenario() for i in range(n)}}),
    ("ResourceSpec", "per_unit"): ("/v1/recommendations", "body.resources[0].per_unit", lambda n: {"resources": [
        {"name": "therapist-hours", "available": MONEY, "per_unit": {ident(i): 1_600.25 for i in range(n)}}]}),
    ("ResourceSpec", "per_money"): ("/v1/recommendations", "body.resources[0].per_money", lambda n: {"resources": [
        {"name": "therapist-hours", "available": MONEY, "per_money": {ident(i): SHARE for i in range(n)}}]}),
    ("RecommendationCreate", "contracts"): ("/v1/recommendations", "body.contracts", lambda n: {
        "contracts": [contract(i) for i in range(n)]}),
    ("Contract", "tiers"): ("/v1/recommendations", "body.contracts[0].tiers", lambda n: {
        "contracts": [{**contract(0), "tiers": [tier(i) for i in range(n)]}]}),
    ("Population", "programs"): ("/v1/recommendations", "body.contracts[0].population.programs", lambda n: {
        "contracts": [{**contract(0), "population": {**contract(0)["population"],
                                                     "programs": [ident(i) for i in range(n)]}}]}),
    ("ScenariosCreate", "scenarios"): ("/v1/scenarios", "body.scenarios", lambda n: {
        "scenarios": {f"scenario-{i}": scenario() for i in range(n)}}),
    ("PilotEvaluationCreate", "aggregates"): ("/v1/pilots/evaluate", "body.aggregates",
                                              lambda n: pilot(rows=n)),
    ("PilotSpec", "pilot_programs"): ("/v1/pilots/evaluate", "body.spec.pilot_programs", lambda n: pilot(
        {**spec(), "pilot_programs": [ident(i) for i in range(1_000, 1_000 + n)]})),
    ("PilotSpec", "pre_periods"): ("/v1/pilots/evaluate", "body.spec.pre_periods", lambda n: pilot(
        {**spec(), "pre_periods": [period(i) for i in range(n)], "post_periods": [period(n)]})),
    ("PilotSpec", "post_periods"): ("/v1/pilots/evaluate", "body.spec.post_periods", lambda n: pilot(
        {**spec(), "pre_periods": [period(0)], "post_periods": [period(i) for i in range(1, n + 1)]})),
}


for _field in ("programs", "groups", "resources", "scenarios"):  # the HTTP body extends the CLI's request
    CASES[("RecommendationCreate", _field)] = CASES[("RecommendationRequest", _field)]


def _request_limits(document: dict[str, Any]) -> dict[tuple[str, str], int]:
    """(component, property) -> maxItems / maxProperties, for every component a request body can hold."""
    components = document["components"]["schemas"]
    found: dict[tuple[str, str], int] = {}

    def walk(name: str, node: Any, prop: str | None, seen: set[str]) -> None:
        if isinstance(node, list):
            for item in node:
                walk(name, item, prop, seen)
            return
        if not isinstance(node, dict):
            return
        if "$ref" in node:
            target = node["$ref"].rsplit("/", 1)[-1]
            if target not in seen:
                seen.add(target)
                walk(target, components[target], None, seen)
            return
        for key in ("maxItems", "maxProperties"):
            if key in node and prop is not None:
                found[(name, prop)] = node[key]
        for key, value in node.items():
            if key == "properties":
                for child, schema in value.items():
                    walk(name, schema, child, seen)
            elif key in ("items", "additionalProperties", "anyOf", "oneOf", "allOf"):
                walk(name, value, prop, seen)

    for operations in document["paths"].values():
        for operation in operations.values():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                walk("", content["schema"], None, set())
    return found


@pytest.fixture
def full_size(make_client: Callable[..., TestClient], settings: ServiceSettings) -> Iterator[TestClient]:
    """The app with the default body limit (the shared fixture lowers it to keep other tests quick)."""
    yield make_client(service_settings=settings.model_copy(update={"max_body_bytes": DEFAULT_MAX_BODY_BYTES}))


def test_every_request_limit_is_in_the_table(client: TestClient) -> None:
    assert set(_request_limits(client.get("/openapi.json").json())) == set(CASES)


@pytest.mark.parametrize("limit", sorted(CASES), ids=".".join)
def test_a_full_request_fits_the_body_limit_and_one_more_is_a_422(limit: tuple[str, str], full_size: TestClient,
                                                                 auth: Any) -> None:
    most = _request_limits(full_size.get("/openapi.json").json())[limit]
    route, field, body = CASES[limit]
    size = len(json.dumps(body(most)).encode())
    assert size <= DEFAULT_MAX_BODY_BYTES, f"{most:,} items make {size:,} bytes"
    over = json.dumps(body(most + 1)).encode()
    role = "clinician" if route == "/v1/patients/risk" else "allocator"
    response = full_size.post(route, content=over, headers={**auth(role), "content-type": "application/json"})
    assert response.status_code == 422, (len(over), response.text[:300])
    assert any(e["field"] == field and e["type"] == "too_long" for e in response.json()["errors"]), response.json()


def test_default_body_limit_is_the_settings_default() -> None:
    assert ServiceSettings.model_fields["max_body_bytes"].default == DEFAULT_MAX_BODY_BYTES


# ---- numbers are numbers; instruments are an enum ----------------------------------------------------------
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
