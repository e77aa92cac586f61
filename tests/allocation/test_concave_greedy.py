"""The slope greedy for envelope problems against the linear programme it replaces, and its hull against a
monotone chain: random problems of every curve shape, windows, budget modes and one-column group rules."""

from __future__ import annotations

import types

import numpy as np
import pytest

from allocation.concave_greedy import cell_of, envelope_pieces
from allocation.constraints import Constraints, GroupShare
from allocation.envelope import maximise_envelope, maximise_envelope_lp
from allocation.objectives import Objective
from allocation.problem import Problem, build_problem

REGIONS = ("rural", "urban", "remote", "coastal")


def _chain_hull(x: np.ndarray, y: np.ndarray) -> list[int]:
    """Andrew's monotone chain, upper half: indices of the hull's vertices (collinear points dropped)."""
    hull: list[int] = []
    for k in range(len(x)):
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            if (x[b] - x[a]) * (y[k] - y[a]) >= (y[b] - y[a]) * (x[k] - x[a]):
                hull.pop()
            else:
                break
        hull.append(k)
    return hull


def _random_row(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.cumsum(rng.uniform(0.01, 3.0, count)) + rng.uniform(-5, 5)
    kind = int(rng.integers(5))
    if kind == 0:  # S-shaped
        y = 40 / (1 + np.exp(-(x - x.mean()) / rng.uniform(0.2, 3)))
    elif kind == 1:  # steps
        y = np.floor(rng.uniform(0, 4) * (x - x[0]) / (x[-1] - x[0] + 1e-9)) * rng.uniform(1, 9)
    elif kind == 2:  # concave
        y = 30 * (1 - np.exp(-(x - x[0]) / rng.uniform(1, 20)))
    elif kind == 3:  # zigzag, possibly falling
        y = np.cumsum(rng.normal(rng.uniform(-1, 1), 1.5, count))
    else:  # collinear stretches
        y = np.round(x) * rng.uniform(-2, 2)
    return x, y


@pytest.mark.parametrize("seed", range(5))
def test_envelope_pieces_are_the_upper_concave_hull(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows, width = 40, 30
    xs, ys = np.zeros((rows, width)), np.zeros((rows, width))
    real = np.zeros((rows, width), dtype=bool)
    for r in range(rows):
        count = int(rng.integers(1, width + 1))
        used = np.sort(rng.choice(width, count, replace=False))
        x, y = _random_row(rng, count)
        xs[r], ys[r] = np.interp(np.arange(width), used, x), 0.0
        xs[r, used], ys[r, used], real[r, used] = x, y, True
    owner, length, slope = envelope_pieces(xs, ys, real)
    assert np.all(length > 0) and np.all(np.diff(owner) >= 0)
    for r in range(rows):
        x, y = xs[r, real[r]], ys[r, real[r]]
        mine = owner == r
        assert np.all(np.diff(slope[mine]) <= 1e-12 * (1 + np.abs(slope[mine][1:])))  # concave
        vx = x[0] + np.concatenate([[0.0], np.cumsum(length[mine])])
        vy = y[0] + np.concatenate([[0.0], np.cumsum(length[mine] * slope[mine])])
        hull = _chain_hull(x, y)
        scale = 1 + np.abs(y).max()
        assert vx[-1] == pytest.approx(x[-1], rel=1e-12, abs=1e-12)
        # same function: equal at every point (so at every vertex of either), and never below a point
        assert np.allclose(np.interp(x, vx, vy), np.interp(x, x[hull], y[hull]), rtol=0, atol=1e-11 * scale)
        assert np.all(np.interp(x, vx, vy) >= y - 1e-11 * scale)


def _problem(rng: np.random.Generator, factories: types.ModuleType) -> Problem:
    count = int(rng.integers(2, 9))
    columns = int(rng.integers(1, 4))
    curves = [factories.random_curve(rng, f"p{i}", {"region": REGIONS[int(rng.integers(columns))]})
              for i in range(count)]
    current = sum(c.current_funding for c in curves)
    groups = []
    for value in REGIONS[: columns + 1]:  # the last value may have no programme at all
        for _ in range(int(rng.integers(0, 3))):  # several rules on one group combine
            low = float(rng.uniform(0, 0.6)) if rng.random() < 0.6 else None
            high = float(rng.uniform(low or 0.05, 0.9)) if low is None or rng.random() < 0.5 else None
            groups.append(GroupShare("region", value, min_share=low, max_share=high))
    constraints = Constraints(
        budget=current * float(rng.uniform(0.4, 1.6)),
        budget_mode="exact" if rng.random() < 0.6 else "at_most",
        max_change=None if rng.random() < 0.4 else float(rng.uniform(0.1, 0.9)),
        groups=tuple(groups),
    )
    if rng.random() < 0.5:
        objective = Objective()
    else:  # dropouts weighted against: some programmes' scores fall as funding rises
        weights = {"reliable_improvements": 1.0, "dropouts": -float(rng.uniform(0, 8))}
        objective = Objective(kind="weighted", weights=weights)
    return build_problem(curves, constraints, objective)


def _windows(rng: np.random.Generator, problem: Problem) -> list[tuple[np.ndarray, np.ndarray]]:
    """The whole range (the certificate), random windows, and windows around a feasible plan (the polish)."""
    lo, hi = problem.lo, problem.hi
    windows = [(lo, hi)]
    centre = lo + (hi - lo) * rng.uniform(size=problem.size)
    width = (hi - lo) * rng.uniform(0, 0.5, size=problem.size)
    windows.append((np.maximum(lo, centre - width), np.minimum(hi, centre + width)))
    solved = maximise_envelope_lp(problem, lo, hi)
    if solved is not None:
        step = float(rng.uniform(0.001, 0.05)) * problem.budget
        windows.append((np.maximum(lo, solved[0] - step), np.minimum(hi, solved[0] + step)))
        windows.append((solved[0], solved[0]))  # an empty window at a feasible plan
    return windows


@pytest.mark.parametrize("seed", range(12))
def test_greedy_matches_the_linear_programme(seed: int, factories: types.ModuleType) -> None:
    rng = np.random.default_rng(1000 + seed)
    outcomes = {"feasible": 0, "infeasible": 0}
    for _ in range(12):
        problem = _problem(rng, factories)
        assert cell_of(problem) is not None
        for lower, upper in _windows(rng, problem):
            greedy, linear = maximise_envelope(problem, lower, upper), maximise_envelope_lp(problem, lower, upper)
            assert (greedy is None) == (linear is None)
            if greedy is None or linear is None:
                outcomes["infeasible"] += 1
                continue
            outcomes["feasible"] += 1
            funding, value = greedy
            assert value == pytest.approx(linear[1], rel=1e-9, abs=1e-9)
            assert np.all(funding >= lower) and np.all(funding <= upper)
            assert problem.violations(funding) == []
            # the value is the envelope at the plan: never below the curve itself there
            assert value >= problem.value(funding) - 1e-9 * max(1.0, abs(value))
    assert outcomes["feasible"] > 0 and outcomes["infeasible"] > 0


def _curves(factories: types.ModuleType) -> list:
    return [
        factories.logistic_curve("a", 100_000, 50, 90_000, 15_000, groups={"region": "rural", "modality": "tele"}),
        factories.step_curve("b", 80_000, [(60_000, 10), (120_000, 15)], groups={"region": "rural"}),
        factories.concave_curve("c", 120_000, 40, groups={"region": "urban", "modality": "tele"}),
        factories.concave_curve("d", 60_000, 30),
    ]


def test_rules_on_one_group_combine_to_the_largest_floor_and_smallest_cap(factories: types.ModuleType) -> None:
    curves = _curves(factories)
    budget = 300_000.0
    single = (GroupShare("region", "rural", min_share=0.5), GroupShare("region", "rural", max_share=0.55))
    double = (*single, GroupShare("region", "rural", min_share=0.3, max_share=0.7))
    results = [maximise_envelope(p, p.lo, p.hi) for p in
               (build_problem(curves, Constraints(budget=budget, groups=g), Objective()) for g in (single, double))]
    assert results[0] is not None and results[1] is not None
    assert results[0][1] == pytest.approx(results[1][1], rel=1e-12)
    rural = results[1][0][:2].sum()
    assert 0.5 * budget - 0.5 <= rural <= 0.55 * budget + 0.5


def test_floor_on_a_group_with_no_programme_is_infeasible(factories: types.ModuleType) -> None:
    curves = _curves(factories)
    for share, feasible in ((GroupShare("region", "remote", min_share=0.1), False),
                            (GroupShare("region", "remote", max_share=0.1), True)):
        problem = build_problem(curves, Constraints(budget=300_000.0, groups=(share,)), Objective())
        assert (maximise_envelope(problem, problem.lo, problem.hi) is not None) is feasible
        assert (maximise_envelope_lp(problem, problem.lo, problem.hi) is not None) is feasible


def test_exact_budget_equal_to_every_maximum_is_feasible(factories: types.ModuleType) -> None:
    curves = _curves(factories)
    problem = build_problem(curves, Constraints(budget=1.0, max_change=0.2), Objective())
    budget = float(problem.hi.sum())  # feasible only by spending every programme's maximum
    problem = build_problem(curves, Constraints(budget=budget, max_change=0.2), Objective())
    solved = maximise_envelope(problem, problem.lo, problem.hi)
    assert solved is not None and np.allclose(solved[0], problem.hi)


def test_rules_on_two_columns_go_to_the_linear_programme(factories: types.ModuleType) -> None:
    curves = _curves(factories)
    groups = (GroupShare("region", "rural", min_share=0.4), GroupShare("modality", "tele", max_share=0.5))
    problem = build_problem(curves, Constraints(budget=300_000.0, groups=groups), Objective())
    assert cell_of(problem) is None
    solved, linear = maximise_envelope(problem, problem.lo, problem.hi), maximise_envelope_lp(problem, problem.lo,
                                                                                              problem.hi)
    assert solved is not None and linear is not None and solved[1] == linear[1]

