"""The quarterly cycle over HTTP: every recommendation is stored as a plan, read back and scored once its period's
KPIs are in the history; only planners reach it."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select

from features.kpi import programme_kpis
from records.kpi_history import KpiHistory
from records.plans import FORECAST_COLUMNS, PLANS, PlanStore, forecast_rows


def test_a_recommendation_is_stored_and_scored_when_its_period_is_in(client: Any, auth: Any, settings: Any,
                                                                      small_world: Any, keys: Any) -> None:
    answer = client.post("/v1/recommendations", json={"max_change": 0.3}, headers=auth("allocator"))
    assert answer.status_code == 200
    location = answer.headers["Location"]
    plan = client.get(location, headers=auth("data_scientist")).json()
    assert plan["issued_by"] == f"key:{keys['allocator'][1].key_id}" and plan["score"] is None
    assert plan["request"]["max_change"] == 0.3
    assert {f["program_id"] for f in plan["forecasts"]} == {a["program_id"] for a in answer.json()["allocations"]}
    listing = client.get("/v1/review/plans", headers=auth("allocator")).json()
    assert [p["plan_id"] for p in listing] == [location.rsplit("/", 1)[1]]

    _, programs, episodes = small_world  # the world's last quarter, as if it were the plan's period
    last = programs["period"].max()
    kpis = programme_kpis(programs[programs["period"] == last], episodes[episodes["period"] == last])
    history = KpiHistory(settings.resolved_outcomes_url)
    history.load(kpis.assign(period=plan["forecast_period"]), source="test")
    history.close()
    scored = client.get(location, headers=auth("allocator")).json()["score"]
    assert 0 <= scored["coverage"]["reliable_improvements"] <= 1
    assert scored["totals"]["reliable_improvements"]["actual"] > 0
    assert "status quo was not run" in scored["attribution"]
    rows = client.get("/v1/review/kpis", params={"kpi": "dropout_rate"}, headers=auth("allocator")).json()
    assert {r["kpi"] for r in rows["kpis"]} == {"dropout_rate"} and len(rows["loads"]) == 1


def test_the_stored_plan_is_the_answer_byte_for_byte_with_its_forecasts(client: Any, auth: Any,
                                                                          settings: Any) -> None:
    answer = client.post("/v1/recommendations", headers=auth("allocator"), json={
        "max_change": 0.3, "groups": [{"column": "region", "value": "rural", "min_share": 0.05}]})
    assert answer.status_code == 200, answer.text
    plan_id = answer.headers["Location"].rsplit("/", 1)[1]
    store = PlanStore(settings.resolved_outcomes_url)
    try:
        with store.engine.connect() as connection:
            text = connection.execute(select(PLANS.c.body).where(PLANS.c.plan_id == plan_id)).scalar()
        plan = store.get(plan_id)
    finally:
        store.close()
    assert text is not None and text.encode() == answer.content
    body = answer.json()
    assert plan.body == body and plan.model_version == body["provenance"]["model_version"]
    expected = (pd.DataFrame(forecast_rows(body), columns=list(FORECAST_COLUMNS))
                .sort_values(["program_id", "metric"], ignore_index=True))
    numbers = list(FORECAST_COLUMNS[2:])
    expected[numbers] = expected[numbers].astype(float)
    pd.testing.assert_frame_equal(plan.forecasts, expected, check_exact=True)


def test_review_routes_are_for_planners_and_refuse_bad_queries_by_name(client: Any, auth: Any) -> None:
    for path in ("/v1/review/kpis", "/v1/review/plans", "/v1/review/plans/x"):
        assert client.get(path, headers=auth("clinician")).status_code == 403
        assert client.get(path).status_code == 401
    bad = client.get("/v1/review/kpis", params={"kpi": "happiness"}, headers=auth("allocator"))
    assert bad.status_code == 422 and "query.kpi" in bad.text
    missing = client.get("/v1/review/plans/not-a-plan", headers=auth("allocator"))
    assert missing.status_code == 404 and "no issued plan" in missing.json()["detail"]


def _two_reviews(settings: Any, trained: Any, small_world: Any) -> Any:
    """Review the world's last two quarters into the service's outcomes database, as `carealloc review` does."""
    from records.plans import PlanStore
    from records.reviews import ReviewLog
    from usecases.review import run_review

    _, programs, episodes = small_world
    url = settings.resolved_outcomes_url
    history, plans, reviews = KpiHistory(url), PlanStore(url), ReviewLog(url)
    try:
        for period in sorted(programs["period"].astype(str).unique())[-2:]:
            review = run_review(trained[2], programs, episodes, period, history=history, plans=plans,
                                source="test", issued_by="test")
            reviews.save(review.period, review.model_version, review.figures(), review.alert_rows(),
                         review.proposal_plan_id)
    finally:
        history.close()
        plans.close()
        reviews.close()
    return review


def test_the_latest_reviews_figures_reach_prometheus(client: Any, auth: Any, settings: Any, trained: Any,
                                                     small_world: Any) -> None:
    scrape = {"headers": auth("data_scientist")}
    assert "carealloc_review_figure" not in client.get("/metrics", **scrape).text  # no review yet
    review = _two_reviews(settings, trained, small_world)
    text = client.get("/metrics", **scrape).text
    shown = {line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
             for line in text.splitlines() if line.startswith("carealloc_review_figure{")}
    assert shown, text
    assert all(f'period="{review.period}"' in labels for labels in shown)  # the latest review only
    assert shown[f'name="alerts",period="{review.period}"'] == len(review.alerts)
    assert "carealloc_review_timestamp_seconds " in text


def test_the_latest_review_and_the_outcomes_page_are_for_planners(client: Any, auth: Any, settings: Any,
                                                                  trained: Any, small_world: Any, keys: Any) -> None:
    from tests.serving.test_pages import sign_in

    none_yet = client.get("/v1/review/latest", headers=auth("allocator"))
    assert none_yet.status_code == 404 and "carealloc review" in none_yet.json()["detail"]
    review = _two_reviews(settings, trained, small_world)
    latest = client.get("/v1/review/latest", headers=auth("data_scientist")).json()
    assert latest["period"] == review.period and latest["proposal_plan_id"] == review.proposal_plan_id
    assert [(a["kind"], a["subject"]) for a in latest["alerts"]] == [(a.kind, a.subject) for a in review.alerts]
    assert latest["figures"]["alerts"] == len(review.alerts)
    assert client.get("/v1/review/latest", headers=auth("clinician")).status_code == 403
    sign_in(client, keys, "allocator")
    page = client.get("/pages/outcomes")
    assert page.status_code == 200 and "/static/outcomes.js" in page.text and 'href="/pages/outcomes"' in page.text
    client.cookies.clear()
    sign_in(client, keys, "clinician")
    assert client.get("/pages/outcomes").status_code == 403


def test_a_review_runs_over_http_from_the_services_data_folder(make_client: Any, settings: Any, auth: Any,
                                                               world_dir: Any, small_world: Any, tmp_path: Any,
                                                               client: Any, keys: Any) -> None:
    from mlflow import MlflowClient

    refused = client.post("/v1/review", json={"period": "2025-Q4"}, headers=auth("allocator"))
    assert refused.status_code == 409 and "CAREALLOC_REVIEW_DATA_DIR" in refused.json()["detail"]
    tracking = f"sqlite:///{tmp_path / 'review-mlflow.db'}"
    service = make_client(service_settings=settings.model_copy(update={"review_data_dir": world_dir,
                                                                       "tracking_uri": tracking}))
    _, programs, _ = small_world
    period = str(sorted(programs["period"].astype(str).unique())[-1])
    done = service.post("/v1/review", json={"period": period}, headers=auth("allocator"))
    assert done.status_code == 201, done.text
    review = done.json()
    assert review["period"] == period and review["kpi_load"]["added"] > 0 and isinstance(review["alerts"], list)
    latest = service.get("/v1/review/latest", headers=auth("data_scientist")).json()
    assert latest["period"] == period and len(latest["alerts"]) == len(review["alerts"])
    again = service.post("/v1/review", json={"period": period}, headers=auth("data_scientist")).json()
    assert again["kpi_load"]["added"] == 0 and again["kpi_load"]["replaced"] == 0  # the same quarter changes nothing
    unknown = service.post("/v1/review", json={"period": "2099-Q1"}, headers=auth("allocator"))
    assert unknown.status_code == 422 and "2099-Q1" in unknown.json()["detail"]
    assert service.post("/v1/review", json={"period": period}, headers=auth("clinician")).status_code == 403
    runs = MlflowClient(tracking).search_runs([e.experiment_id for e in MlflowClient(tracking).search_experiments()])
    started = {r.data.tags.get("review.started_by") for r in runs if r.data.tags.get("job") == "review"}
    assert started == {f"key:{keys['allocator'][1].key_id}", f"key:{keys['data_scientist'][1].key_id}"}
