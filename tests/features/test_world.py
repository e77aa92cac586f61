"""The synthetic world: deterministic, calibrated to CLINICAL_FACTS, confounded, and its truth is exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.outcomes import derive_outcomes
from synthetic.plan import build_plan
from synthetic.simulate import simulate_episodes
from synthetic.truth import Truth
from tests.features.simulator_agreement import assert_truth_matches_simulator


def test_same_seed_same_world_other_seed_other_world() -> None:
    a = simulate_episodes(build_plan("mental-health", 3_000, seed=5))
    b = simulate_episodes(build_plan("mental-health", 3_000, seed=5))
    c = simulate_episodes(build_plan("mental-health", 3_000, seed=6))
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    assert not a[1]["final_score"].equals(c[1]["final_score"])


@pytest.fixture(scope="module")
def calibration_world() -> pd.DataFrame:
    plan = build_plan("mental-health", 80_000, seed=3)
    programs, episodes = simulate_episodes(plan)
    modality = programs.drop_duplicates("program_id").set_index("program_id")["modality"]
    # The published figures describe treatment services, so prevention programmes are left out.
    return episodes[modality.loc[episodes["program_id"]].to_numpy() != "prevention"].reset_index(drop=True)


def test_calibration_matches_published_figures(calibration_world: pd.DataFrame) -> None:
    eps = calibration_world
    out = derive_outcomes(eps["instrument"], eps["baseline_score"], eps["final_score"])
    started = eps["sessions_attended"] > 0
    finished = (eps["sessions_attended"] >= 2) & ~eps["dropped_out"]
    # Targets (CLINICAL_FACTS.md): never entering 0.29, starters not completing 0.43, referral -> finished 0.40,
    # finishers: reliable improvement 0.67, recovery 0.50, sessions 7.5, reliable deterioration 0.06.
    assert 0.22 <= 1 - started.mean() <= 0.35
    assert 0.35 <= eps.loc[started, "dropped_out"].mean() <= 0.50
    assert 0.35 <= finished.mean() <= 0.47
    assert 0.58 <= out.loc[finished, "reliable_improvement"].mean() <= 0.72
    assert 0.45 <= out.loc[finished, "recovery"].mean() <= 0.62  # measured ~0.60: see the issue note
    assert 6.5 <= eps.loc[finished, "sessions_attended"].mean() <= 8.5
    assert 0.02 <= out.loc[finished, "reliable_deterioration"].mean() <= 0.08
    phq = eps["instrument"] == "PHQ-9"
    assert 14.5 <= eps.loc[phq, "baseline_score"].mean() <= 18.0


def test_historical_funding_is_confounded_with_quality() -> None:
    plan = build_plan("mental-health", 10_000, seed=2)
    a = plan.arrays
    per_course = plan.funding / (a.unit_cost * a.standard_sessions)[:, None] / plan.referrals
    generosity = np.log(per_course.mean(axis=1))
    assert np.corrcoef(generosity, a.quality)[0, 1] > 0.5
    # ... while funding still varies within each programme, which is what identifies the effect of money.
    within = np.log(per_course).std(axis=1)
    assert (within > 0.05).all() and np.median(within) > 0.15


def test_truth_matches_the_simulator_it_summarises() -> None:
    assert_truth_matches_simulator("smooth")


def test_truth_curves_rise_with_diminishing_returns_and_round_trip(tmp_path: Path) -> None:
    plan = build_plan("physical-therapy", 8_000, seed=1)
    truth = Truth(plan, cohort_size=800)
    pid = truth.program_ids[0]
    grid = truth.current_funding[pid] * np.linspace(0.25, 3.0, 12)
    values = truth.curve(pid, grid)["reliable_improvements"].to_numpy()
    assert (np.diff(values) > 0).all()
    gains = np.diff(values)
    assert gains[-1] < gains[0]
    truth.save(tmp_path)
    again = Truth.load(tmp_path)
    assert again.value(truth.current_funding) == pytest.approx(truth.value(truth.current_funding))


def test_oracle_beats_status_quo_within_budget_and_bounds() -> None:
    truth = Truth(build_plan("mental-health", 5_000, seed=9), cohort_size=600)
    current = truth.current_funding
    budget = sum(current.values())
    bounds = {p: (0.7 * f, 1.3 * f) for p, f in current.items()}
    allocation, value = truth.oracle_allocation(budget, bounds, step=budget / 1500)
    assert sum(allocation.values()) == pytest.approx(budget, abs=1.0)
    assert all(bounds[p][0] - 1e-6 <= f <= bounds[p][1] + 1e-6 for p, f in allocation.items())
    assert value > truth.value(current)
    with pytest.raises(ValueError, match="minimums add up to"):
        truth.oracle_allocation(budget * 0.5, bounds, step=budget / 1500)


def test_physical_therapy_world_is_valid_contract_data(tmp_path: Path) -> None:
    from features.tables import load_tables, write_tables

    plan = build_plan("physical-therapy", 4_000, seed=0)
    programs, episodes = simulate_episodes(plan)
    assert set(programs["modality"]) == {"staffing", "technology", "training", "marketing"}
    assert set(episodes["instrument"]) == {"ODI", "NPRS", "PSFS"}
    write_tables(tmp_path, programs, episodes)
    assert load_tables(tmp_path).snapshot.episodes_rows == len(episodes)
