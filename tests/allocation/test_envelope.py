"""The envelope solvers' window points: curve knots inside each window plus its two ends, scored."""

from __future__ import annotations

import types

import numpy as np
import pytest

from allocation.constraints import Constraints
from allocation.envelope import window_points
from allocation.objectives import Objective
from allocation.problem import build_problem


@pytest.mark.parametrize("seed", range(3))
def test_window_ends_are_scored_as_value_parts_does(seed: int, factories: types.ModuleType) -> None:
    """Both envelope solvers read the window ends' scores from `window_points`, so check those on their own:
    ends on knots, between knots, beyond the grid, empty windows and curves of different lengths (padding)."""
    rng = np.random.default_rng(seed)
    curves = [factories.random_curve(rng, f"p{i}") for i in range(8)]
    problem = build_problem(curves, Constraints(budget=100_000.0), Objective())
    knots = problem.curve_table[0]
    rows = np.arange(problem.size)
    for _ in range(20):
        on_knot = knots[rows, rng.integers(0, knots.shape[1], size=problem.size)]
        lower = np.where(rng.random(problem.size) < 0.5, on_knot, rng.uniform(-10_000, 300_000, problem.size))
        upper = lower + np.where(rng.random(problem.size) < 0.3, 0.0, rng.uniform(0, 100_000, problem.size))
        upper = np.where(rng.random(problem.size) < 0.3, knots[:, -1], upper)
        _, ys, real = window_points(problem, lower, upper)
        assert np.allclose(ys[:, 0], problem.value_parts(lower), rtol=1e-12, atol=1e-12)
        assert np.allclose(ys[:, -1], problem.value_parts(upper), rtol=1e-12, atol=1e-12)
        assert np.array_equal(real[:, -1], upper > lower)
