"""The all-programmes-at-once scoring gives the very numbers of the per-programme np.interp loops it replaced.

Results are compared bit for bit (not approximately): recommendations must not move between versions.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest

from allocation.baselines import _scaled_to_budget, baseline_plans
from allocation.constraints import Constraints, GroupShare
from allocation.curves import GridPositions, OutcomeCurve
from allocation.evaluation import evaluate_plan
from allocation.explain import MARGINAL_UNIT, marginal_gains
from allocation.feasibility import tidy
from allocation.objectives import Objective
from allocation.problem import Problem, build_problem
from allocation.result import plain


def same_bits(got: np.ndarray, want: np.ndarray) -> bool:
    return got.shape == want.shape and np.array_equal(got.view(np.int64), want.view(np.int64))


def test_grid_positions_match_np_interp_bit_for_bit() -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):
        lengths = [int(rng.integers(2, 30)) for _ in range(int(rng.integers(1, 15)))]
        grids = [np.cumsum(rng.uniform(1e-3, 1e4, m)) - rng.uniform(0, 1e4) for m in lengths]
        series = [[rng.normal(0, 100, m) for m in lengths], [np.round(rng.normal(0, 3, m)) for m in lengths]]
        # before, after, on a knot (the ends included) and between knots
        x = np.array([rng.choice([g[0] - 5.0, g[-1] + 5.0, g[int(rng.integers(len(g)))], rng.uniform(g[0], g[-1])])
                      for g in grids])
        at = GridPositions(grids, x)
        for rows in series:
            want = np.array([np.interp(x[i], grids[i], rows[i]) for i in range(len(grids))])
            assert same_bits(at.values(rows), want)
        assert same_bits(at.values(series), np.array([at.values(rows) for rows in series]))


@pytest.fixture
def curves(factories: types.ModuleType) -> list[OutcomeCurve]:
    rng = np.random.default_rng(23)
    return [factories.random_curve(rng, f"p{i:02d}", {"region": "rural" if i % 3 else "urban"}) for i in range(15)]


@pytest.mark.parametrize("objective", [Objective(), Objective(kind="weighted", weights={"reliable_improvements": 1.0,
                                                                                         "dropouts": 0.4})])
def test_evaluate_plan_matches_the_per_programme_loop(curves: list[OutcomeCurve], objective: Objective) -> None:
    rng = np.random.default_rng(1)
    plan = {c.program_id: float(c.current_funding * rng.uniform(0.0, 2.5)) for c in curves}
    plan[curves[0].program_id] = curves[0].funding_max  # on the last knot
    evaluation = evaluate_plan(curves, plan, objective)
    ordered = sorted(curves, key=lambda c: c.program_id)
    objective_value = 0.0
    for curve in ordered:
        amount = plan[curve.program_id]
        row = {name: float(np.interp(amount, curve.funding, curve.metrics[name])) for name in sorted(curve.metrics)}
        row["objective"] = float(np.interp(amount, curve.funding, objective.score_grid(curve)))
        objective_value += row["objective"]
        assert list(evaluation.per_programme[curve.program_id].items()) == list(row.items())
    assert evaluation.objective_value == objective_value == evaluation.totals["objective"]
    for name in ("reliable_improvements", "dropouts"):
        assert evaluation.totals[name] == sum(evaluation.per_programme[c.program_id][name] for c in ordered)
    assert evaluation.outside_forecast_grid == tuple(
        c.program_id for c in ordered if not c.funding_min <= plan[c.program_id] <= c.funding_max)
    assert evaluation.outside_forecast_grid  # some programmes are funded beyond their grid
    problem = build_problem(curves, Constraints(budget=1.0, budget_mode="at_most"), objective)
    assert evaluate_plan(curves, plan, objective, scores=problem.scores) == evaluation


def test_marginal_gains_match_the_per_programme_loop(curves: list[OutcomeCurve]) -> None:
    problem = build_problem(curves, Constraints(budget=sum(c.current_funding for c in curves)), Objective())
    funding = np.array([c.funding_max - 400.0 * (i % 4) for i, c in enumerate(problem.curves)])
    want: list[float | None] = []
    for x, curve, scores in zip(funding, problem.curves, problem.scores, strict=True):
        fits = x + MARGINAL_UNIT <= curve.funding_max + 1e-9
        want.append(float(np.interp(x + MARGINAL_UNIT, curve.funding, scores) - np.interp(x, curve.funding, scores))
                    if fits else None)
    assert marginal_gains(problem, funding) == want
    assert None in want and any(g is not None for g in want)


def _scaled_by_full_bisection(problem: Problem, raw: np.ndarray) -> np.ndarray:
    """The rule as first written: always 100 bisection steps, np.clip each time."""
    clipped = np.clip(raw, problem.lo, problem.hi)
    if problem.mode == "at_most" and clipped.sum() <= problem.budget:
        return clipped
    low, high = 0.0, 1.0
    while float(np.clip(high * raw, problem.lo, problem.hi).sum()) < problem.budget and high < 1e12:
        high *= 2.0
    for _ in range(100):
        mid = 0.5 * (low + high)
        if float(np.clip(mid * raw, problem.lo, problem.hi).sum()) < problem.budget:
            low = mid
        else:
            high = mid
    return tidy(problem, np.clip(high * raw, problem.lo, problem.hi))


@pytest.mark.parametrize("mode", ["exact", "at_most"])
def test_budget_scaling_stops_early_on_the_same_split(curves: list[OutcomeCurve], mode: str) -> None:
    rng = np.random.default_rng(4)
    total = sum(c.current_funding for c in curves)
    for share in (0.6, 1.0, 1.4):
        constraints = Constraints(budget=share * total, budget_mode=mode, max_change=0.5,  # type: ignore[arg-type]
                                  groups=(GroupShare("region", "urban", min_share=0.2),))
        problem = build_problem(curves, constraints, Objective())
        for raw in (rng.uniform(0, 3e5, problem.size), np.full(problem.size, problem.budget / problem.size)):
            assert same_bits(_scaled_to_budget(problem, raw), _scaled_by_full_bisection(problem, raw))
        assert [b.name for b in baseline_plans(problem)][-1] == "lowest_cost_per_improvement_first"


def test_plain_keeps_its_conversions() -> None:
    class Pair(tuple):  # a tuple subclass still becomes a list
        pass

    value = {1: (np.float64(1.5), np.int64(2), np.bool_(True), math.nan, -math.inf, 2.0, Pair((3, None))),
             "a": np.array([1.0, np.inf]), "b": [True, "x", {"c": float("nan")}]}
    assert plain(value) == {"1": [1.5, 2, True, None, None, 2.0, [3, None]], "a": [1.0, None],
                            "b": [True, "x", {"c": None}]}
    assert type(plain(np.float64(2.0))) is float and type(plain(np.int32(3))) is int
