"""The hard regimes of the synthetic world: each mechanism does what synthetic/regimes.py says, and the truth
still computes exactly what the simulator draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthetic.mechanism import courses_per_referral, reach_share
from synthetic.plan import build_plan
from synthetic.regimes import REGIMES
from synthetic.truth import Truth
from tests.features.simulator_agreement import assert_truth_matches_simulator


def test_regimes_are_named_smooth_first_and_unknown_ones_are_refused() -> None:
    assert REGIMES[0] == "smooth"
    assert set(REGIMES) == {"smooth", "saturated", "overhead", "waits", "dose_response", "demand_following"}
    with pytest.raises(ValueError, match=r"unknown regime 'steep'.*smooth"):
        build_plan("mental-health", 1_000, seed=1, regime="steep")


def test_every_regime_keeps_the_programmes_and_smooth_is_the_default() -> None:
    smooth = build_plan("physical-therapy", 2_000, seed=3)
    np.testing.assert_array_equal(smooth.funding, build_plan("physical-therapy", 2_000, 3, "smooth").funding)
    for regime in REGIMES[1:]:
        plan = build_plan("physical-therapy", 2_000, seed=3, regime=regime)
        columns = ["program_id", "quality"]
        pd.testing.assert_frame_equal(plan.programs[columns], smooth.programs[columns])
        assert plan.regime == regime
        # Dose response changes what sessions do, not how the programmes were funded; the others change funding.
        assert np.array_equal(plan.funding, smooth.funding) == (regime == "dose_response")


@pytest.mark.parametrize("regime", ["waits", "overhead", "dose_response"])
def test_truth_matches_the_simulator_in_hard_regimes(regime: str) -> None:
    assert_truth_matches_simulator(regime)


def test_overhead_buys_nothing_until_it_is_paid() -> None:
    plan = build_plan("mental-health", 5_000, seed=2, regime="overhead")
    truth = Truth(plan, cohort_size=300)
    i = int(np.argmax(plan.arrays.overhead / plan.current_funding))
    overhead = plan.arrays.overhead[i]
    assert 0.05 < overhead / plan.current_funding[i] < 0.45
    values = truth.curve(truth.program_ids[i], overhead * np.array([0.5, 0.99, 1.2, 1.6]))["reliable_improvements"]
    assert values.iloc[0] == values.iloc[1] == 0.0 and 0 < values.iloc[2] < values.iloc[3]


def test_waits_make_dropout_rise_as_funding_falls() -> None:
    truth = Truth(build_plan("mental-health", 5_000, seed=2, regime="waits"), cohort_size=300)
    smooth = Truth(build_plan("mental-health", 5_000, seed=2), cohort_size=300)
    pid = truth.program_ids[1]
    grid = truth.current_funding[pid] * np.array([0.5, 1.0, 1.5])
    curve = truth.curve(pid, grid)
    rate = (curve["dropouts"] / curve["episodes"]).to_numpy()
    assert rate[0] > rate[1] > rate[2]
    calm = smooth.curve(pid, grid)
    calm_rate = (calm["dropouts"] / calm["episodes"]).to_numpy()
    assert rate[0] - rate[2] > calm_rate[0] - calm_rate[2]


def test_saturated_good_programmes_reach_almost_every_referral() -> None:
    plan = build_plan("mental-health", 10_000, seed=5, regime="saturated")
    a = plan.arrays
    kappa = courses_per_referral(plan.current_funding, plan.next_referrals, a.unit_cost, a.standard_sessions)
    reach = reach_share(kappa, a.reach_rate)
    good = a.quality > 0.2  # about the best quarter (quality SD 0.35)
    assert np.median(reach[good]) > 0.93 and reach[good].min() > 0.8
    assert np.median(reach[~good]) < np.median(reach[good]) - 0.1


def test_demand_following_budgets_move_with_referrals_within_programmes() -> None:
    def within_correlation(regime: str) -> float:
        plan = build_plan("mental-health", 20_000, seed=6, regime=regime)
        f = np.log(plan.funding) - np.log(plan.funding).mean(axis=1, keepdims=True)
        r = np.log(plan.referrals) - np.log(plan.referrals).mean(axis=1, keepdims=True)
        return float(np.corrcoef(f.ravel(), r.ravel())[0, 1])

    assert within_correlation("demand_following") > within_correlation("smooth") + 0.2


def test_dose_response_differs_between_programmes_of_a_modality() -> None:
    smooth = build_plan("mental-health", 2_000, seed=7).arrays
    dose = build_plan("mental-health", 2_000, seed=7, regime="dose_response").arrays
    ratio = np.log(dose.effect_rate / smooth.effect_rate)
    assert 0.25 < ratio.std() < 0.7


def test_truth_file_remembers_the_regime(tmp_path: Path) -> None:
    truth = Truth(build_plan("mental-health", 2_000, seed=8, regime="waits"), cohort_size=200)
    truth.save(tmp_path)
    again = Truth.load(tmp_path)
    assert again.plan.regime == "waits"
    assert again.value(truth.current_funding) == pytest.approx(truth.value(truth.current_funding))
