"""Issued plans: stored as issued, found again for their forecast period, and scored against that period's KPIs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select

from records.plans import FORECAST_COLUMNS, FORECASTS, PLANS, PlanDocument, PlanStore, forecast_rows
from usecases.plan_scoring import score_plan
from usecases.recommendation import RecommendationRequest, recommend


@pytest.fixture(scope="module")
def issued(trained: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    request = {"max_change": 0.3}
    return recommend(trained[2], RecommendationRequest.model_validate(request)), request


@pytest.fixture
def store(tmp_path: Path) -> PlanStore:
    return PlanStore(f"sqlite:///{tmp_path / 'outcomes.db'}")


def test_a_plan_is_kept_as_issued_and_the_latest_one_per_period_is_found(store: PlanStore, issued: Any) -> None:
    body, request = issued
    first = store.save(body, request, issued_by="key:alloc-1")
    second = store.save(body, {**request, "budget": 1.0}, issued_by="cli")
    period = body["provenance"]["forecast_period"]
    latest = store.latest(period)
    assert latest is not None and latest.plan_id == second and latest.request["budget"] == 1.0
    kept = store.get(first)
    assert kept.issued_by == "key:alloc-1" and kept.body["allocations"] == body["allocations"]
    ri = kept.forecasts[kept.forecasts.metric == "reliable_improvements"].set_index("program_id")
    for allocation in body["allocations"]:
        row = ri.loc[allocation["program_id"]]
        assert row["value"] == pytest.approx(allocation["metrics_recommended"]["reliable_improvements"])
        assert row["upper"] == pytest.approx(allocation["metrics_recommended"]["reliable_improvements_upper"])
        assert row["recommended_funding"] == pytest.approx(allocation["recommended_funding"])
    assert store.latest("1999-Q1") is None
    assert list(store.listing()["plan_id"]) == [second, first]
    with pytest.raises(KeyError, match="no issued plan"):
        store.get("not-a-plan")


def _kpis_for(plan_forecasts: pd.DataFrame, period: str, scale: dict[str, float]) -> pd.DataFrame:
    """KPI rows whose counts are the plan's forecasts times `scale[program]` (1 = exactly as forecast)."""
    wide = plan_forecasts.pivot_table(index="program_id", columns="metric", values="value")
    rows = []
    for program, forecast in wide.iterrows():
        episodes = forecast["episodes"] * scale.get(str(program), 1.0)
        ri = forecast["reliable_improvements"] * scale.get(str(program), 1.0)
        for kpi, value in (("episodes", episodes), ("reliable_improvement_rate", ri / episodes),
                           ("dropout_rate", forecast["dropouts"] / forecast["episodes"])):
            rows.append({"program_id": program, "period": period, "kpi": kpi, "value": value,
                         "lower": np.nan, "upper": np.nan, "n": 0})
    return pd.DataFrame(rows)


def test_forecast_vs_actual_inside_the_interval_and_the_gain(store: PlanStore, issued: Any) -> None:
    body, request = issued
    plan = store.get(store.save(body, request, issued_by="cli"))
    programmes = sorted(plan.forecasts.program_id.unique())
    far = programmes[0]
    kpis = _kpis_for(plan.forecasts, plan.forecast_period, {far: 5.0})  # one programme did 5x its forecast
    funding = pd.Series({a["program_id"]: a["recommended_funding"] for a in body["allocations"]})
    funding[programmes[1]] = 0.0  # and one was not funded as planned
    score = score_plan(plan, kpis, funding)
    ri = score.programmes[score.programmes.metric == "reliable_improvements"].set_index("program_id")
    assert not ri.loc[far, "inside"] and ri.loc[programmes[2], "inside"]
    assert ri.loc[far, "actual"] == pytest.approx(5 * ri.loc[far, "forecast"])
    assert not ri.loc[programmes[1], "followed"] and ri.loc[programmes[2], "followed"]
    assert score.coverage["reliable_improvements"] == pytest.approx(1 - 1 / len(programmes))
    totals = score.totals["reliable_improvements"]
    expected_actual = ri["forecast"].sum() + 4 * ri.loc[far, "forecast"]
    assert totals["actual"] == pytest.approx(expected_actual)
    assert totals["gain_over_status_quo"] == pytest.approx(expected_actual - ri["status_quo_forecast"].sum())
    assert totals["gain_lower"] <= totals["gain_over_status_quo"] <= totals["gain_upper"]
    assert "status quo was not run" in score.attribution


def test_a_period_without_the_plans_programmes_is_refused(store: PlanStore, issued: Any) -> None:
    body, request = issued
    plan = store.get(store.save(body, request, issued_by="cli"))
    kpis = _kpis_for(plan.forecasts, "2099-Q4", {})
    with pytest.raises(ValueError, match="hold no programme"):
        score_plan(plan, kpis, pd.Series(dtype=float))


def test_plans_saved_at_once_from_many_threads_are_all_kept(store: PlanStore, issued: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body, request = issued
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: store.save(body, {**request, "budget": float(i)}, issued_by=f"key:{i}"),
                            range(40)))
    assert len(set(ids)) == 40
    listing = store.listing()
    assert sorted(listing["plan_id"]) == sorted(ids)
    assert {store.get(i).request["budget"] for i in ids[:5]} == {0.0, 1.0, 2.0, 3.0, 4.0}


def test_the_body_is_kept_as_the_text_answered_and_the_forecasts_as_the_body_gives_them(
        store: PlanStore, issued: Any) -> None:
    body, request = issued
    text = json.dumps(body)  # key order as answered, not sorted
    plan_id = store.store(PlanDocument.of(body, text), request, issued_by="key:alloc-1")
    with store.engine.connect() as connection:
        kept = connection.execute(select(PLANS.c.body).where(PLANS.c.plan_id == plan_id)).scalar()
    assert kept == text
    plan = store.get(plan_id)
    assert plan.body == body and plan.request == request
    assert plan.model_version == str(body["provenance"]["model_version"])
    expected = (pd.DataFrame(forecast_rows(body), columns=list(FORECAST_COLUMNS))
                .sort_values(["program_id", "metric"], ignore_index=True))
    numbers = list(FORECAST_COLUMNS[2:])  # every column after program_id and metric
    expected[numbers] = expected[numbers].astype(float)
    pd.testing.assert_frame_equal(plan.forecasts, expected, check_exact=True)


def test_a_plan_with_its_forecasts_as_rows_reads_as_the_same_plan(store: PlanStore, issued: Any) -> None:
    """Databases may hold plans whose forecasts are rows of plan_forecasts: they read exactly as packed ones."""
    body, request = issued
    packed = store.get(store.save(body, request, issued_by="cli"))
    plan_id = str(uuid.uuid4())
    with store.engine.begin() as connection:
        connection.execute(insert(PLANS).values(
            plan_id=plan_id, issued_at="2026-01-01T00:00:00.000000+00:00", issued_by="cli",
            model_version=packed.model_version, forecast_period=packed.forecast_period,
            request=json.dumps(request), body=json.dumps(body, sort_keys=True)))
        connection.execute(insert(FORECASTS), [{**row, "plan_id": plan_id} for row in reversed(forecast_rows(body))])
    rows = store.get(plan_id)
    assert rows.body == packed.body
    pd.testing.assert_frame_equal(rows.forecasts, packed.forecasts, check_exact=True)
