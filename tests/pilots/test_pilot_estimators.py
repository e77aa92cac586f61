"""Estimators with answers checkable by hand, CR2 against an independent implementation, the power check."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from pilots import PilotSpec, evaluate_pilot
from pilots.estimators import METHOD, cr2_contrast, difference_in_differences, pre_post, within_slope
from pilots.power import design_mde

SPEC = {"pilot_programs": ["A", "B"], "pre_periods": ["2025-Q1"], "post_periods": ["2025-Q2"],
        "controls": ["C", "D"]}


def test_did_on_a_hand_checkable_frame(hand_frame: pd.DataFrame) -> None:
    result = evaluate_pilot(PilotSpec(**SPEC), hand_frame)
    itt = result.effect("reliable_improvement_itt")
    assert itt.did is not None and itt.pre_post is not None
    assert itt.did.estimate == pytest.approx(0.13)
    assert itt.pre_post.estimate == pytest.approx(0.18)
    # Equal weights, two programmes per group: CR2 is Welch's variance, var(.20,.16)/2 + var(.04,.06)/2
    assert itt.did.std_error == pytest.approx(np.sqrt(0.0008 / 2 + 0.0002 / 2))
    assert itt.did.df == pytest.approx(2.0)  # two groups of two: one degree of freedom each
    t = stats.t.ppf(0.975, 2.0)
    assert itt.did.ci_low == pytest.approx(0.13 - t * itt.did.std_error)
    assert itt.did.p_value == pytest.approx(2 * stats.t.sf(0.13 / itt.did.std_error, 2.0))
    assert (itt.pilot_pre, itt.pilot_post, itt.control_pre, itt.control_post) == pytest.approx(
        (0.25, 0.43, 0.25, 0.30))
    assert "only one pre period: parallel trends cannot be checked" in " ".join(result.warnings)


def test_cr2_matches_statsmodels_hc2_for_one_row_per_cluster() -> None:
    rng = np.random.default_rng(3)
    y, w = rng.normal(0, 1, 9), rng.uniform(20, 400, 9)
    treated = np.arange(9) < 4
    ours = difference_in_differences(y, treated, w)
    reference = sm.WLS(y, sm.add_constant(treated.astype(float)), weights=w).fit(cov_type="HC2")
    assert ours.estimate == pytest.approx(reference.params[1])
    assert ours.std_error == pytest.approx(reference.bse[1])
    assert 1.0 < ours.df < 7.0  # unequal weights: fewer effective degrees of freedom than G - 2


def test_satterthwaite_df_is_welchs_for_equal_weights_and_unequal_groups() -> None:
    """Equal weights: the working model is homoskedastic, so the df is Welch-Satterthwaite's at equal variances,
    (1/n1 + 1/n0)^2 / (1/(n1^2 (n1-1)) + 1/(n0^2 (n0-1))): 4.09 for 3 pilots and 6 controls, not G - 2 = 7."""
    y = np.random.default_rng(5).normal(0, 1, 9)
    ours = difference_in_differences(y, np.arange(9) < 3, np.ones(9))
    assert ours.df == pytest.approx((1 / 3 + 1 / 6) ** 2 / (1 / (9 * 2) + 1 / (36 * 5)))
    assert ours.method == METHOD and ours.to_dict()["method"] == METHOD


def test_satterthwaite_df_matches_the_moments_of_the_simulated_variance() -> None:
    """Weighted case, no closed form: the df is 2 E[V]^2 / Var[V] of the CR2 variance V when each programme's
    change has variance 1/weight (the working model), checked here by simulating V (textbook HC2 formula)."""
    rng = np.random.default_rng(11)
    w = rng.uniform(30, 600, 10)
    treated = np.arange(10) < 4
    ours = difference_in_differences(rng.normal(0, 1, 10), treated, w)
    x = np.column_stack([np.ones(10), treated.astype(float)])
    bread = np.linalg.inv(x.T @ (w[:, None] * x))
    leverage = np.einsum("ij,jk,ik->i", x, bread, x) * w
    a = (x @ bread)[:, 1] * w
    y = rng.normal(0, 1, (100_000, 10)) / np.sqrt(w)
    residual = y - (y * w) @ x @ bread @ x.T
    v = (residual**2 / (1 - leverage)) @ a**2
    assert v.mean() == pytest.approx(np.sum(a**2 / w), rel=0.01)  # CR2 is unbiased under its working model
    assert ours.df == pytest.approx(2 * v.mean() ** 2 / v.var(), rel=0.03)
    assert 2.0 < ours.df < 8.0


def test_intervals_are_not_too_narrow_when_the_working_model_holds() -> None:
    """Normal changes with variance 1/weight, 3 pilots and 6 controls of unequal size: the Satterthwaite interval
    covers at least 95 % (it is a little conservative, which keeps false positives at or under 5 %); t(G-2)
    critical values on the same draws would not."""
    rng = np.random.default_rng(1)
    w = rng.lognormal(5, 0.8, 9)
    treated = np.arange(9) < 3
    fits = [difference_in_differences(y, treated, w) for y in rng.normal(0, 1, (2000, 9)) / np.sqrt(w)]
    covered = np.mean([f.ci_low <= 0 <= f.ci_high for f in fits])
    assert 0.95 <= covered <= 0.98
    naive = np.mean([abs(f.estimate) <= stats.t.ppf(0.975, 7) * f.std_error for f in fits])
    assert naive < 0.95


def test_pre_post_is_the_weighted_mean_change() -> None:
    estimate = pre_post(np.array([0.1, 0.3, 0.2]), np.array([1.0, 1.0, 2.0]))
    assert estimate.estimate == pytest.approx(0.2)
    assert estimate.clusters == 3


def test_no_variation_is_an_error_not_a_zero_interval() -> None:
    with pytest.raises(ValueError, match="do not vary"):
        difference_in_differences(np.array([0.1, 0.1, 0.0, 0.0]), np.array([1, 1, 0, 0], bool), np.ones(4))
    with pytest.raises(ValueError, match="clusters cannot estimate"):
        cr2_contrast(np.ones((1, 1)), np.array([0.1]), np.ones(1), np.array([1.0]))


def test_within_slope() -> None:
    assert within_slope(np.array([0.1, 0.2, 0.3]), np.arange(3), np.ones(3)) == pytest.approx(0.1)
    assert np.isnan(within_slope(np.array([0.1, 0.2]), np.arange(2), np.array([5.0, 0.0])))


def test_parallel_trends_flags_diverging_pre_trends(make_rows: Callable[..., pd.DataFrame]) -> None:
    rising = {"A": (0.10, 0.20, 0.30, 0.40), "B": (0.12, 0.21, 0.32, 0.41)}
    flat = {"C": (0.20, 0.21, 0.20, 0.21), "D": (0.30, 0.29, 0.31, 0.30)}
    frame = make_rows({**rising, **flat}, episodes=400)
    spec = PilotSpec(pilot_programs=["A", "B"], pre_periods=["2025-Q1", "2025-Q2", "2025-Q3"],
                     post_periods=["2025-Q4"], controls=["C", "D"])
    result = evaluate_pilot(spec, frame)
    assert result.parallel_trends is not None and result.parallel_trends.estimate > 0.08
    assert any("pre-period trends differ" in w for w in result.warnings)


def _design(pilots: int, controls: int = 8, periods: int = 4, episodes: int = 200) -> float:
    """Design MDE with the same per-programme scatter pattern, for `pilots` piloted programmes."""
    pattern = np.array([0.02, -0.01, -0.02, 0.01])
    rows = []
    for i in range(pilots + controls):
        for t in range(periods):
            rate = 0.3 + pattern[(t + i) % 4]
            rows.append({"program_id": f"P{i:02d}", "episodes": episodes,
                         "reliable_improvements": round(rate * episodes)})
    pre = pd.DataFrame(rows)
    return design_mde(pre, {f"P{i:02d}" for i in range(pilots)}, periods, 0.05, 0.8).mde


def test_minimum_detectable_effect_falls_as_the_pilot_grows() -> None:
    mdes = [_design(k) for k in (2, 3, 4, 6, 8)]
    assert all(a > b for a, b in pairwise(mdes)), mdes
    assert _design(4, periods=2) > _design(4, periods=4)  # fewer periods: fewer episodes each side


def test_power_warning_when_the_hoped_for_effect_is_below_the_mde(hand_frame: pd.DataFrame) -> None:
    small = evaluate_pilot(PilotSpec(**SPEC, expected_effect=0.01), hand_frame)
    assert any(w.startswith("pilot too small") for w in small.warnings)
    assert small.power_before.mde > 0.01
    large = evaluate_pilot(PilotSpec(**SPEC, expected_effect=0.9), hand_frame)
    assert not any(w.startswith("pilot too small") for w in large.warnings)
