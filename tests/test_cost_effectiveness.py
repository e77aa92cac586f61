"""The cost-effectiveness acceptability curve: a probability at every willingness to pay, rising with it when the
plan costs more (falling when it saves), and exactly the share of forecast-error draws with positive net benefit."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from allocation.curves import OutcomeCurve
from models.forecast import QALY_PER_RELIABLE_IMPROVEMENT
from usecases.confidence import BEAT_STATUS_QUO_DRAWS
from usecases.cost_effectiveness import NICE_THRESHOLDS, WILLINGNESS_TO_PAY, acceptability_curve, cost_per_outcome
from usecases.curves import outcome_curves
from usecases.recommendation import RecommendationRequest, recommend


def loop_qaly_gains(curves: list[OutcomeCurve], plan: dict[str, float], seed: int) -> np.ndarray:
    """QALY gain per draw, one programme at a time (the loop tests/test_recommendation.py keeps, on QALYs)."""
    rng = np.random.default_rng(seed)
    diff = np.zeros(BEAT_STATUS_QUO_DRAWS)
    for curve in curves:
        values = {}
        for name, money in (("plan", plan[curve.program_id]), ("now", curve.current_funding)):
            low = curve.value("reliable_improvements_lower", money)
            high = curve.value("reliable_improvements_upper", money)
            sigma = max(math.log(max(high, 1e-9) / max(low, 1e-9)) / (2 * 1.645), 1e-6)
            values[name] = (curve.value("qalys", money), sigma)
        shock = rng.standard_normal(BEAT_STATUS_QUO_DRAWS)
        diff += (values["plan"][0] * np.exp(values["plan"][1] * shock)
                 - values["now"][0] * np.exp(values["now"][1] * shock))
    return diff


def _plan(bundle: Any, budget_scale: float) -> tuple[list[OutcomeCurve], dict[str, float], dict[str, Any]]:
    curves = list(outcome_curves(bundle))
    current = sum(c.current_funding for c in curves)
    body = recommend(bundle, RecommendationRequest(budget=budget_scale * current, max_change=0.3), curves)
    return curves, {a["program_id"]: a["recommended_funding"] for a in body["allocations"]}, body


@pytest.mark.parametrize("budget_scale", [1.1, 0.9])
def test_the_curve_is_the_share_of_draws_with_positive_net_benefit(trained: Any, budget_scale: float) -> None:
    """On the simulated world's champion: a plan that spends 10 % more, and one that spends 10 % less."""
    curves, plan, body = _plan(trained[2], budget_scale)
    result = acceptability_curve(curves, plan)
    gains = loop_qaly_gains(curves, plan, seed=0)
    assert result.delta_cost == pytest.approx((budget_scale - 1) * sum(c.current_funding for c in curves), rel=1e-6)
    expected = [float((w * gains - result.delta_cost > 0).mean()) for w in WILLINGNESS_TO_PAY]
    assert result.probability_cost_effective == pytest.approx(expected, abs=1e-12)
    assert all(0.0 <= p <= 1.0 for p in result.probability_cost_effective)
    steps = np.diff(result.probability_cost_effective)
    if result.delta_cost > 0:
        assert (steps >= 0).all() and result.at(0) == 0.0  # free QALYs are not on offer: at 0 it only costs
    else:
        assert (steps <= 0).all() and result.at(0) == 1.0  # it saves money: cost-effective at no price
    assert result.delta_qalys == pytest.approx(body["totals"]["plan"]["qalys"] - body["totals"]["status_quo"]["qalys"])
    assert result.icer == pytest.approx(cost_per_outcome(body["totals"])["icer"])
    if result.icer is not None and result.icer > 0:
        assert result.delta_cost / result.icer == pytest.approx(result.delta_qalys)
    assert set(result.to_dict()["nice"]) == {f"{w:.0f}" for w in NICE_THRESHOLDS}


def _curve(rng: np.random.Generator, pid: str) -> OutcomeCurve:
    current = float(rng.uniform(5e4, 1.5e5))
    funding = np.linspace(0.0, 2.0 * current, int(rng.integers(5, 30)))
    ri = 40.0 / (1.0 + np.exp(-(funding - current) / float(rng.uniform(1e4, 6e4))))
    spread = float(rng.uniform(0.05, 0.6))
    return OutcomeCurve(pid, funding, {"reliable_improvements": ri, "reliable_improvements_lower": ri * (1 - spread),
                                       "reliable_improvements_upper": ri * (1 + spread),
                                       "qalys": ri * QALY_PER_RELIABLE_IMPROVEMENT},
                        current_funding=current, observed_min=0.7 * current, observed_max=1.3 * current)


@pytest.mark.parametrize("seed", range(6))
def test_more_money_for_uncertain_gains_is_monotone_in_willingness_to_pay(seed: int) -> None:
    """Seeded worlds of 1-40 programmes with wide and narrow intervals, plans that spend more."""
    rng = np.random.default_rng(seed)
    curves = [_curve(rng, f"p{i:02d}") for i in range(int(rng.integers(1, 40)))]
    plan = {c.program_id: c.current_funding * float(rng.uniform(0.95, 1.25)) for c in curves}
    if sum(plan.values()) <= sum(c.current_funding for c in curves):
        plan = {p: 1.3 * f for p, f in plan.items()}
    fine = tuple(float(w) for w in range(0, 100_001, 500))
    result = acceptability_curve(curves, plan, fine)
    assert result.delta_cost > 0
    assert (np.diff(result.probability_cost_effective) >= 0).all()
    gains = loop_qaly_gains(curves, plan, seed=0)
    assert result.probability_cost_effective == pytest.approx([float((w * gains - result.delta_cost > 0).mean())
                                                               for w in fine], abs=1e-12)


def test_the_same_plan_is_never_cost_effective_and_has_no_icer(trained: Any) -> None:
    curves = list(outcome_curves(trained[2]))
    result = acceptability_curve(curves, {c.program_id: c.current_funding for c in curves})
    assert result.delta_cost == 0 and result.icer is None
    assert set(result.probability_cost_effective) == {0.0}  # no gain, no cost: net benefit 0 is not > 0
