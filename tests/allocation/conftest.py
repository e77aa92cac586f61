"""Hand-built outcome curves for the allocation tests (no models involved).

Test modules reach these helpers through the ``factories`` fixture, because the project runs pytest in
importlib mode, where test directories are not importable packages.
"""

from __future__ import annotations

import itertools
import sys
import types
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from allocation.curves import OutcomeCurve


def logistic_curve(
    pid: str,
    current: float,
    height: float,
    midpoint: float,
    width: float,
    *,
    points: int = 21,
    groups: Mapping[str, str] | None = None,
    referrals: float = 50.0,
    spread: float = 0.2,
) -> OutcomeCurve:
    """S-shaped (non-concave) dose-response in funding, with lower/upper bands and falling dropouts."""
    funding = np.linspace(0.0, 2.0 * current, points)
    ri = height / (1.0 + np.exp(-(funding - midpoint) / width))
    ri = ri - ri[0]
    return OutcomeCurve(
        program_id=pid,
        funding=funding,
        metrics={
            "reliable_improvements": ri,
            "reliable_improvements_lower": ri * (1 - spread),
            "reliable_improvements_upper": ri * (1 + spread),
            "dropouts": 0.5 * height - 0.3 * ri,
        },
        current_funding=current,
        observed_min=0.7 * current,
        observed_max=1.3 * current,
        referrals=referrals,
        groups=dict(groups or {}),
    )


def step_curve(
    pid: str,
    current: float,
    jumps: Sequence[tuple[float, float]],
    *,
    points: int = 21,
    groups: Mapping[str, str] | None = None,
    referrals: float = 50.0,
) -> OutcomeCurve:
    """Tree-model-like curve: flat stretches and jumps of ``size`` once funding passes ``at``."""
    funding = np.linspace(0.0, 2.0 * current, points)
    ri = np.zeros_like(funding)
    for at, size in jumps:
        ri += size * (funding >= at)
    return OutcomeCurve(
        program_id=pid,
        funding=funding,
        metrics={"reliable_improvements": ri, "dropouts": 40.0 - 0.2 * ri},
        current_funding=current,
        observed_min=0.7 * current,
        observed_max=1.3 * current,
        referrals=referrals,
        groups=dict(groups or {}),
    )


def concave_curve(
    pid: str,
    current: float,
    height: float,
    *,
    points: int = 21,
    groups: Mapping[str, str] | None = None,
    referrals: float = 50.0,
) -> OutcomeCurve:
    funding = np.linspace(0.0, 2.0 * current, points)
    ri = height * (1 - np.exp(-funding / current))
    return OutcomeCurve(
        program_id=pid,
        funding=funding,
        metrics={
            "reliable_improvements": ri,
            "reliable_improvements_lower": 0.8 * ri,
            "reliable_improvements_upper": 1.2 * ri,
            "dropouts": 30.0 - 0.2 * ri,
        },
        current_funding=current,
        observed_min=0.7 * current,
        observed_max=1.3 * current,
        referrals=referrals,
        groups=dict(groups or {}),
    )


def random_curve(rng: np.random.Generator, pid: str, groups: Mapping[str, str] | None = None) -> OutcomeCurve:
    current = float(rng.uniform(50_000, 150_000))
    kind = int(rng.integers(3))
    if kind == 0:
        return logistic_curve(
            pid,
            current,
            height=float(rng.uniform(10, 80)),
            midpoint=float(rng.uniform(0.3, 1.7) * current),
            width=float(rng.uniform(0.05, 0.3) * current),
            points=int(rng.integers(8, 30)),
            groups=groups,
            referrals=float(rng.uniform(5, 100)),
        )
    if kind == 1:
        jumps = [
            (float(rng.uniform(0, 2 * current)), float(rng.uniform(2, 20))) for _ in range(int(rng.integers(1, 5)))
        ]
        return step_curve(pid, current, jumps, points=int(rng.integers(8, 30)), groups=groups)
    return concave_curve(pid, current, float(rng.uniform(10, 80)), points=int(rng.integers(5, 30)), groups=groups)


def brute_force(
    curves: Sequence[OutcomeCurve],
    budget: float,
    lower: Sequence[float],
    upper: Sequence[float],
    *,
    cells: int,
    exact: bool = True,
    group_members: Sequence[int] = (),
    group_floor: float = 0.0,
) -> float:
    """Exhaustive search on a fine grid: every programme but the last on the grid, the last takes the rest."""
    n = len(curves)
    grids = [np.linspace(lower[i], upper[i], cells + 1) for i in range(n - 1)]
    values = [np.interp(g, c.funding, c.metrics["reliable_improvements"]) for g, c in zip(grids, curves, strict=False)]
    best = -np.inf
    last = curves[-1]
    for combo in itertools.product(*[range(cells + 1)] * (n - 2)) if n > 2 else [()]:
        head = sum(grids[i][j] for i, j in enumerate(combo))
        head_value = sum(values[i][j] for i, j in enumerate(combo))
        x_prev = grids[n - 2]
        rest = budget - head - x_prev
        if exact:
            x_last = rest
        else:
            x_last = np.clip(rest, lower[n - 1], upper[n - 1])
            # at_most: the last programme takes the best amount it can afford
            x_last = np.minimum(x_last, upper[n - 1])
        ok = (x_last >= lower[n - 1] - 1e-6) & (x_last <= upper[n - 1] + 1e-6) & (rest >= lower[n - 1] - 1e-6)
        if group_members:
            alloc = [*(grids[i][j] for i, j in enumerate(combo)), x_prev, x_last]
            ok &= sum(alloc[m] for m in group_members) >= group_floor - 1e-6
        total = head_value + values[n - 2] + np.interp(x_last, last.funding, last.metrics["reliable_improvements"])
        if np.any(ok):
            best = max(best, float(np.max(total[ok])))
    return best


@pytest.fixture(scope="session")
def factories() -> types.ModuleType:
    return sys.modules[__name__]
