"""The quarterly review on a small simulated world with injected events: what it stores, scores and alerts on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from records.kpi_history import KpiHistory, PeriodConflictError
from records.plans import PlanStore
from synthetic.events import Event, inject
from usecases.recommendation import RecommendationRequest, recommend
from usecases.review import run_review


def _stores(folder: Path) -> tuple[KpiHistory, PlanStore]:
    url = f"sqlite:///{folder / 'outcomes.db'}"
    return KpiHistory(url), PlanStore(url)


@pytest.fixture
def stores(tmp_path: Path) -> tuple[KpiHistory, PlanStore]:
    return _stores(tmp_path)


def _last(programs: pd.DataFrame) -> str:
    return str(sorted(programs["period"].astype(str).unique())[-1])


def _review(trained: Any, programs: pd.DataFrame, episodes: pd.DataFrame, stores: Any, **kw: Any) -> Any:
    history, plans = stores
    return run_review(trained[2], programs, episodes, _last(programs), history=history, plans=plans,
                      source="test", issued_by="test", **kw)


def test_a_quiet_quarter_stores_kpis_proposes_and_a_rerun_changes_nothing(trained: Any, small_world: Any,
                                                                          stores: Any) -> None:
    _, programs, episodes = small_world
    first = _review(trained, programs, episodes, stores)
    assert first.load.added > 0 and first.model_has_period
    assert not [a for a in first.alerts if a.kind in ("input_drift", "calibration_drift")]
    assert first.proposal is not None and first.proposal_plan_id is not None
    assert stores[1].get(first.proposal_plan_id).forecast_period == trained[2].next_period
    assert any("no plan was issued" in n for n in first.notes)
    again = _review(trained, programs, episodes, stores)
    assert again.load.load_id is None and again.load.added == 0 and again.load.unchanged == first.load.added


def test_injected_events_are_named(trained: Any, small_world: Any, stores: Any, tmp_path: Path) -> None:
    _, programs, episodes = small_world
    last = _last(programs)
    busiest = episodes.loc[episodes["period"].astype(str) == last, "program_id"].value_counts().index
    events = [Event("referral_surge", "P004", last), Event("case_mix_shift", "all", last),
              Event("data_entry_fault", str(busiest[0]), last), Event("quality_drop", str(busiest[1]), last)]
    programs_x, episodes_x = inject(programs, episodes, events, seed=0)
    review = _review(trained, programs_x, episodes_x, stores)
    subjects = {(a.kind, a.subject) for a in review.alerts}
    caused = {("referral_volume", "programme P004"), ("input_drift", "payer mix"),
              ("outcome_shift", f"programme {busiest[0]}"), ("outcome_shift", f"programme {busiest[1]}")}
    assert caused <= subjects
    assert all(a.action and a.since == last for a in review.alerts)
    (tmp_path / "quiet").mkdir()
    quiet = _review(trained, programs, episodes, _stores(tmp_path / "quiet"))  # the quarter without the events
    assert not {(a.kind, a.subject) for a in quiet.alerts} & caused


def test_a_scored_plan_and_a_refused_conflict(trained: Any, small_world: Any, stores: Any) -> None:
    _, programs, episodes = small_world
    history, plans = stores
    body = recommend(trained[2], RecommendationRequest(max_change=0.3))
    plan_id = plans.save(body, {"max_change": 0.3}, issued_by="test")
    # score the plan as if the world's last period were the one it forecast
    plans.engine.dispose()
    with plans.engine.begin() as connection:
        from records.plans import PLANS

        connection.execute(PLANS.update().values(forecast_period=_last(programs)))
    review = _review(trained, programs, episodes, stores)
    assert review.plan_score is not None and review.plan_score.plan_id == plan_id
    assert 0 <= review.plan_score.coverage["reliable_improvements"] <= 1
    before = history.values()
    changed = episodes.copy()
    changed.loc[changed.index[0], "dropped_out"] = not bool(changed.loc[changed.index[0], "dropped_out"])
    with pytest.raises(PeriodConflictError, match="dropout_rate"):
        _review(trained, programs, changed, stores)
    pd.testing.assert_frame_equal(history.values(), before)
    corrected = _review(trained, programs, changed, stores, correction=True)
    assert corrected.load.replaced > 0 and len(history.replaced()) == corrected.load.replaced


def test_a_period_not_in_the_data_is_refused(trained: Any, small_world: Any, stores: Any) -> None:
    _, programs, episodes = small_world
    with pytest.raises(ValueError, match="period 2099-Q1 is not in the data"):
        run_review(trained[2], programs, episodes, "2099-Q1", history=stores[0], plans=stores[1], source="t",
                   issued_by="t")
