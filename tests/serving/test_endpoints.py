"""Each endpoint answers with the documented shape, and every answer names the model version it used."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter

from serving.app import create_app
from serving.security import route_rules
from serving.settings import ServiceSettings
from tests.serving.conftest import VERSION

pytestmark = pytest.mark.usefixtures("client")


def total_funding(client: Any, headers: dict[str, str]) -> float:
    return sum(p["current_funding"] for p in client.get("/v1/programs", headers=headers).json()["programs"])


def test_health_and_readiness(client: Any) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready" and ready["model_version"] == VERSION and ready["stale"] is False


def test_models_names_versions_snapshot_and_metrics(client: Any, auth: Any) -> None:
    body = client.get("/v1/models", headers=auth("allocator")).json()
    assert body["model_version"] == VERSION and body["model_name"] == "carealloc" and "champion" in body["aliases"]
    assert {c["name"] for c in body["components"]} == {"response", "dropout", "reach"}
    assert set(body["base_rates"]) == {"dropout", "non_response"}
    assert "forecast_period" in body and "data_snapshot" in body and "metrics" in body


def test_programs_lists_every_programme_with_ranges(client: Any, auth: Any, champion: Any) -> None:
    body = client.get("/v1/programs", headers=auth("clinician")).json()
    assert [p["program_id"] for p in body["programs"]] == sorted(champion.bundle.programs)
    first = body["programs"][0]
    assert first["observed_min_funding"] <= first["observed_max_funding"] <= first["max_forecast_funding"]
    assert "modality" in first["groups"]


def test_forecasts_give_intervals_and_flag_extrapolation(client: Any, auth: Any) -> None:
    response = client.post("/v1/forecasts", headers=auth("allocator"), json={"programs": [
        {"program_id": "P001", "multiples": [0.0, 1.0, 2.9]}, {"program_id": "P002", "funding": [1000.0]}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == VERSION
    points = body["forecasts"][0]["points"]
    assert len(points) == 3
    for point in points:
        ri = point["reliable_improvements"]
        assert ri["lower"] <= ri["value"] <= ri["upper"]
        assert point["qalys"]["lower"] <= point["qalys"]["value"] <= point["qalys"]["upper"]
    assert points[2]["outside_observed_range"] is True
    assert points[2]["reliable_improvements"]["value"] >= points[0]["reliable_improvements"]["value"]


def test_recommendation_returns_split_evidence_and_provenance(client: Any, auth: Any) -> None:
    headers = auth("allocator")
    budget = total_funding(client, headers)
    response = client.post("/v1/recommendations", headers=headers, json={
        "budget": budget, "max_change": 0.3, "groups": [{"column": "region", "value": "rural", "min_share": 0.05}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == VERSION and body["provenance"]["model_version"] == VERSION
    assert sum(a["recommended_funding"] for a in body["allocations"]) == pytest.approx(budget, rel=1e-6)
    assert 0.0 <= body["probability_beats_status_quo"] <= 1.0
    assert {b["name"] for b in body["baselines"]}
    row = body["allocations"][0]
    assert {"value", "lower", "upper"} <= set(row["expected_reliable_improvements"])


def test_scenarios_are_scored_beside_the_status_quo(client: Any, auth: Any) -> None:
    response = client.post("/v1/scenarios", headers=auth("data_scientist"), json={
        "scenarios": {"more_p001": {"P001": 500000.0}, "less_p002": {"P002": 0.0}}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["scenarios"]) == {"status_quo", "more_p001", "less_p002"}
    assert body["model_version"] == VERSION


def test_risk_gives_factors_in_words_and_base_rates(client: Any, auth: Any, episode_rows: list[dict[str, Any]]
                                                   ) -> None:
    episodes = [{**row, "episode_id": f"ref-{i}"} for i, row in enumerate(episode_rows[:5])]
    response = client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": episodes,
                                                                                  "top_factors": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model_version"] == VERSION
    assert [e["ref"] for e in body["episodes"]] == [f"ref-{i}" for i in range(5)]
    first = body["episodes"][0]
    for outcome in ("dropout", "non_response"):
        assert 0 <= first[outcome]["risk"] <= 1
        assert first[outcome]["base_rate"] == body["base_rates"][outcome]
        assert len(first[outcome]["factors"]) == 2
        assert first[outcome]["factors"][0]["text"].endswith(("raises dropout risk", "lowers dropout risk",
                                                              "raises non-response risk", "lowers non-response risk"))
    assert "patient_id" not in response.text and episode_rows[0]["patient_id"] not in response.text


def test_risk_accepts_a_full_batch_of_1000(client: Any, auth: Any, episode_rows: list[dict[str, Any]]) -> None:
    episodes = [{**episode_rows[i % len(episode_rows)], "episode_id": f"e{i}"} for i in range(1000)]
    response = client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": episodes})
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["episodes"]) == 1000
    too_many = client.post("/v1/patients/risk", headers=auth("clinician"), json={"episodes": [*episodes, {
        **episodes[0], "episode_id": "one-more"}]})
    assert too_many.status_code == 422


def test_reload_reports_versions(client: Any, auth: Any) -> None:
    body = client.post("/v1/admin/reload", headers=auth("data_scientist")).json()
    assert body["model_version"] == VERSION and body["previous_version"] == VERSION and body["changed"] is False


def test_every_response_names_the_model_version(client: Any, auth: Any) -> None:
    for method, path, role, body in (
            ("GET", "/healthz", "allocator", None), ("GET", "/v1/models", "allocator", None),
            ("GET", "/v1/programs", "clinician", None), ("POST", "/v1/forecasts", "allocator", {}),
            ("POST", "/v1/patients/risk", "allocator", {}), ("GET", "/nowhere", "allocator", None)):
        response = client.request(method, path, headers=auth(role), json=body)
        assert response.headers["carealloc-model-version"] == VERSION, path
        if response.status_code == 200 and path.startswith("/v1"):
            assert response.json()["model_version"] == VERSION


def test_metrics_count_requests_by_route_with_model_version(client: Any, auth: Any) -> None:
    client.get("/v1/programs", headers=auth("allocator"))
    text = client.get("/metrics", headers=auth("data_scientist")).text
    assert 'carealloc_http_requests_total{method="GET",model_version="7",route="/v1/programs",status="200"}' in text
    assert "carealloc_http_request_duration_seconds_bucket" in text
    assert 'carealloc_model_info{model_version="7",source="provided"} 1.0' in text


def test_metrics_need_a_data_scientist_key_unless_made_public(make_client: Any, settings: Any, auth: Any) -> None:
    closed = make_client()
    assert closed.get("/metrics").status_code == 401
    assert closed.get("/metrics", headers=auth("allocator")).status_code == 403
    assert closed.get("/metrics", headers=auth("data_scientist")).status_code == 200
    public = make_client(service_settings=settings.model_copy(update={"metrics_public": True}))
    assert public.get("/metrics").status_code == 200
    assert route_rules(public.app.routes)["GET /metrics"] is None


def test_openapi_documents_every_route_with_examples(client: Any) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/v1/models", "/v1/programs", "/v1/forecasts", "/v1/recommendations", "/v1/scenarios",
            "/v1/patients/risk", "/v1/admin/reload", "/healthz", "/readyz"} <= set(schema["paths"])
    components = schema["components"]["schemas"]
    for name in ("RecommendationRequest", "RiskCreate", "ForecastCreate", "ScenariosCreate"):
        assert components[name].get("examples"), name
    assert "X-API-Key" in str(schema["components"]["securitySchemes"])


def test_a_route_without_an_access_rule_is_refused_at_build_time() -> None:
    app = create_app(ServiceSettings(data_dir="unused"))
    extra = APIRouter()

    @extra.get("/v1/unruled", response_model=dict)
    def unruled() -> dict[str, str]:
        return {}

    app.include_router(extra)
    with pytest.raises(KeyError, match="no access rule"):
        route_rules(app.routes)


def untimed(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without the solver's wall time, the one figure two runs of a request do not share."""
    return {**answer, "solver": {k: v for k, v in answer["solver"].items() if k != "seconds"}}


def test_a_recommendation_leaves_the_baselines_splits_out_unless_asked_for_full_detail(client: Any, auth: Any,
                                                                                        champion: Any) -> None:
    from serving.routers.recommendations import recommendation_result
    from serving.schemas import RecommendationCreate, RecommendationPublic

    request = {"max_change": 0.3, "groups": [{"column": "region", "value": "rural", "min_share": 0.05}]}
    summary = client.post("/v1/recommendations", headers=auth("allocator"), json=request)
    full = client.post("/v1/recommendations", params={"detail": "full"}, headers=auth("allocator"), json=request)
    assert summary.status_code == full.status_code == 200, (summary.text, full.text)
    # full: what the service answered before the option existed (the validated result), marked as full
    result = recommendation_result(champion, RecommendationCreate.model_validate(request))
    before = untimed(RecommendationPublic.model_validate(result).model_dump(mode="json"))
    assert untimed(full.json()) == {**before, "detail_level": "full"}
    assert all(b["allocation"] for b in full.json()["baselines"] if b["feasible"])
    # summary: the same answer but for the baselines' splits
    short = untimed(summary.json())
    assert short["detail_level"] == "summary" and all(b["allocation"] is None for b in short["baselines"])
    assert {**short, "detail_level": "full"} == {
        **before, "detail_level": "full", "baselines": [{**b, "allocation": None} for b in before["baselines"]]}
    assert len(summary.content) < len(full.content)
    refused = client.post("/v1/recommendations", params={"detail": "everything"}, headers=auth("allocator"),
                          json=request)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "query.detail"
