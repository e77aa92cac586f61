"""Forecast intervals: the conformal quantile, physical limits, continuity in funding, coverage of the truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from allocation import Constraints, optimize
from models.intervals import (
    IntervalCalibration,
    bands,
    calibrate,
    conformal_quantiles,
    extrapolation_distance,
)

CALIBRATED = IntervalCalibration(level=0.9, score_low=-1.7, score_high=1.8, model_spread=0.1, demand_spread=0.12,
                                 cells=48)


def test_conformal_quantiles_use_the_finite_sample_rank() -> None:
    scores = np.arange(1.0, 20.0)  # 19 scores: the upper 95 % rank is ceil(20 * 0.95) = 19, the lower floor(1) = 1
    assert conformal_quantiles(scores, 0.9) == (1.0, 19.0)
    low, high = conformal_quantiles(np.arange(1.0, 10.0), 0.9)  # 9 scores cannot bound a 95 % tail
    assert low == -np.inf and high == np.inf
    assert conformal_quantiles(np.arange(1.0, 101.0), 0.9) == (5.0, 96.0)  # ceil(101 * .95) = 96, floor(5.05) = 5
    with pytest.raises(ValueError, match="level"):
        conformal_quantiles(scores, 1.0)


def test_calibration_recovers_the_spread_and_covers_fresh_counts() -> None:
    rng = np.random.default_rng(3)
    forecast = rng.uniform(5, 400, 3000)
    truth = forecast * np.exp(rng.normal(0.0, 0.2, forecast.size))
    calibration = calibrate(forecast[:1500], rng.poisson(truth[:1500]), np.zeros(1500), spread_of_demand=0.0)
    assert calibration.model_spread == pytest.approx(0.2, abs=0.03)
    band = bands(forecast[1500:], 1e9, np.zeros(1500), calibration)
    fresh = rng.poisson(truth[1500:])
    covered = (fresh >= band["realised_lower"]) & (fresh <= band["realised_upper"])
    assert 0.87 <= covered.mean() <= 0.93
    expected = (truth[1500:] >= band["expected_lower"]) & (truth[1500:] <= band["expected_upper"])
    assert 0.85 <= expected.mean() <= 0.95


def test_distance_is_zero_inside_continuous_and_capped() -> None:
    funding = np.array([0.0, 1.0, 50.0, 100.0, 150.0, 200.0, 400.0, 1e9])
    distance = extrapolation_distance(funding, 100.0, 200.0)
    assert distance[3] == distance[4] == distance[5] == 0.0
    assert distance[2] == pytest.approx(np.log(2)) and distance[6] == pytest.approx(np.log(2))
    assert distance[0] == distance[1] == distance[-1] == pytest.approx(np.log(10))


def _checked(curve, referrals: float) -> None:
    ri = curve["reliable_improvements"]
    assert (curve["episodes"] <= referrals + 1e-9).all()
    assert (ri <= curve["episodes"] + 1e-9).all() and (curve["dropouts"] <= curve["episodes"] + 1e-9).all()
    for side in ("", "_realised"):
        lower, upper = curve[f"reliable_improvements{side}_lower"], curve[f"reliable_improvements{side}_upper"]
        assert (lower >= 0).all() and (lower <= ri + 1e-9).all()
        assert (upper >= ri - 1e-9).all() and (upper <= referrals + 1e-9).all()


def test_bounds_are_physical_at_zero_tiny_and_three_times_the_largest_funding(trained) -> None:
    _, forecaster, _ = trained
    forecaster = dataclasses.replace(forecaster, intervals=CALIBRATED)
    for pid, state in forecaster.programs.items():
        curve = forecaster.curve(pid, np.array([0.0, 10.0, 3 * state.observed_max]))
        _checked(curve, state.next_referrals)
        # at zero funding and a budget of 10 the forecast is near zero, and so is any bound
        assert (curve["reliable_improvements_realised_upper"].iloc[:2]
                <= curve["reliable_improvements"].iloc[:2] + 3 * np.sqrt(curve["reliable_improvements"].iloc[:2])
                + 1e-6).all()


def test_a_budget_of_ten_gives_a_plan_with_near_zero_upper_bounds(small_world, trained) -> None:
    from models.bundle import make_bundle
    from usecases.curves import outcome_curves

    _, programs, episodes = small_world
    suite, forecaster, _ = trained
    bundle = make_bundle(dataclasses.replace(forecaster, intervals=CALIBRATED), suite, programs, episodes)
    curves = outcome_curves(bundle)
    plan = optimize(curves, Constraints(budget=10.0)).allocation
    upper = sum(float(np.interp(plan[c.program_id], c.funding, c.metrics["reliable_improvements_upper"]))
                for c in curves)
    forecast = sum(float(np.interp(plan[c.program_id], c.funding, c.metrics["reliable_improvements"]))
                   for c in curves)
    # near zero in absolute terms; relative to the forecast a small programme's band is wide there: its estimate
    # error (a few dozen counted improvements) grows by the extrapolation widening at the cap
    assert upper <= 3.0 * forecast + 1e-6 and upper < 1.0


def test_band_shape_is_continuous_in_funding(trained) -> None:
    """The band's width relative to the forecast moves smoothly with funding, through the observed range's ends
    (the forecast itself steps where the trees split; the band follows it and must add no step of its own)."""
    _, forecaster, _ = trained
    forecaster = dataclasses.replace(forecaster, intervals=CALIBRATED)
    for pid in sorted(forecaster.programs)[:6]:
        state = forecaster.programs[pid]
        funding = np.geomspace(max(state.observed_min, 1.0) / 12, state.observed_max * 3, 3000)
        curve = forecaster.curve(pid, funding)
        ri = curve["reliable_improvements"].to_numpy()
        for column in ("reliable_improvements_lower", "reliable_improvements_upper"):
            shape = np.abs(curve[column].to_numpy() - ri) / ri
            # grid steps of 0.15 % in funding; below the observed range the lower band's relative width grows by
            # about 2 per unit of log-funding, 0.003 a step: a step of its own would be far more
            assert np.abs(np.diff(shape)).max() < 0.005, (pid, column)
        assert shape[-1] > shape[len(shape) // 2]  # wider beyond the largest observed funding


def test_intervals_cover_the_truth_of_a_fresh_world() -> None:
    """Seed 12 is used by no other test; trained as `carealloc train` trains. Bands of the model spread alone
    (no demand swing) covered 22 % of expected counts in bench_uncertainty, far below this floor."""
    from features.contract import validate_tables
    from models.evaluation import evaluate_holdout
    from models.forecast import build_forecaster
    from models.suite import fit_suite
    from synthetic.plan import build_plan
    from synthetic.simulate import simulate_episodes
    from synthetic.truth import Truth

    plan = build_plan("mental-health", 8_000, seed=12)
    programs, episodes = validate_tables(*simulate_episodes(plan))
    params = {"n_estimators": 80, "learning_rate": 0.08, "num_leaves": 15, "min_child_samples": 40}
    calibration = evaluate_holdout(programs, episodes, params, seed=12)["intervals"]
    suite = fit_suite(programs, episodes, params, seed=12)
    forecaster = build_forecaster(programs, episodes, suite.response, suite.dropout, suite.reach, seed=12)
    forecaster.intervals = calibration
    truth = Truth(plan, cohort_size=1000)
    rng = np.random.default_rng(12)
    expected, realised = [], []
    for i, pid in enumerate(truth.program_ids):
        levels = truth.current_funding[pid] * np.array([0.7, 1.0, 1.3])
        band, true = forecaster.curve(pid, levels), truth.curve(pid, levels)
        referrals = plan.next_referrals[i]
        for j in range(len(levels)):
            value = true["reliable_improvements"].iloc[j]
            expected.append(band["reliable_improvements_lower"].iloc[j] <= value
                            <= band["reliable_improvements_upper"].iloc[j])
            episodes_j = rng.binomial(rng.poisson(referrals * np.exp(rng.normal(0, 0.12, 40))),
                                      min(true["episodes"].iloc[j] / referrals, 1.0))
            counts = rng.binomial(episodes_j, value / max(true["episodes"].iloc[j], 1e-9))
            realised.append(np.mean((counts >= band["reliable_improvements_realised_lower"].iloc[j])
                                    & (counts <= band["reliable_improvements_realised_upper"].iloc[j])))
    assert 0.75 <= np.mean(expected) <= 1.0
    assert 0.8 <= np.mean(realised) <= 0.97


def test_estimate_variance_sizes_the_expected_band_by_the_programme_history() -> None:
    """Errors that are only each programme's estimation error (1 / its counted improvements) leave no model
    spread, and the expected band of a small programme is then relatively wider than a large one's and covers."""
    from models.intervals import estimate_parts

    rng = np.random.default_rng(5)
    history = rng.uniform(10, 4000, 3000)  # counted improvements behind each programme's estimate
    known = np.array([sum(estimate_parts(200.0, 4, h, 0.0)) for h in history])
    assert known[np.argmin(history)] > known[np.argmax(history)]
    truth = rng.uniform(5, 400, 3000)
    forecast = truth * np.exp(rng.normal(0.0, np.sqrt(known)))
    fresh = rng.poisson(truth)
    calibration = calibrate(forecast[:1500], fresh[:1500], np.zeros(1500), 0.0, estimate=known[:1500])
    assert calibration.model_spread < 0.05
    small, large = history < 100, history > 2000
    widths = {}
    for name, rows in (("small", small), ("large", large)):
        idx = np.flatnonzero(rows)
        band = [bands(forecast[i:i + 1], 1e9, np.zeros(1), calibration, known[i]) for i in idx]
        upper = np.array([b["expected_upper"][0] for b in band])
        lower = np.array([b["expected_lower"][0] for b in band])
        widths[name] = np.median((upper - lower) / forecast[idx])
        assert 0.83 <= np.mean((truth[idx] >= lower) & (truth[idx] <= upper)) <= 0.97, name
    assert widths["small"] > 3 * widths["large"]


def test_a_cut_below_the_observed_range_widens_the_lower_bound_more_than_a_rise_above_it() -> None:
    from models.intervals import cut_distance

    funding = np.array([50.0, 150.0, 400.0])  # half the smallest observed, inside, twice the largest
    distance = extrapolation_distance(funding, 100.0, 200.0)
    below = cut_distance(funding, 100.0)
    assert below.tolist() == pytest.approx([np.log(2), 0.0, 0.0])
    band = bands(np.full(3, 40.0), 1e9, distance, CALIBRATED, 0.01, below)
    down = 40.0 - band["expected_lower"]
    assert down[0] > 2 * down[2] and down[2] > down[1]
    assert band["expected_upper"][0] == pytest.approx(band["expected_upper"][2])  # the upper side is symmetric
    assert band["realised_lower"][0] < band["realised_lower"][2]
