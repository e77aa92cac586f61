"""An independent exact reference for problems with whole units, min_viable cells and resource rows.

Formulated differently from `allocation/mixed_integer.py` on purpose, so an error in one does not hide in both:
a stepped cell picks exactly one of its whole-unit levels (one binary per level, their sum one); any other cell
picks one segment of its curve (one binary per segment) and a point on it (a convex combination of the segment's
two ends), with "off" one more choice where min_viable allows it. Every rule is re-derived here from the
`Constraints` and curves, not read from the solver's compiled `Problem`, except the box limits, which
`build_problem` documents (forecast grid, min/max, change limit, observed range, no_decrease, lattice rounding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from allocation.constraints import Constraints
from allocation.curves import OutcomeCurve
from allocation.objectives import Objective
from allocation.problem import build_problem


@dataclass(frozen=True)
class ReferenceSolution:
    value: float
    funding: dict[str, float]
    proven_optimal: bool
    dual_bound: float | None
    seconds: float


def solve_reference(curves: Sequence[OutcomeCurve], constraints: Constraints, objective: Objective = Objective(),  # noqa: B008
                    time_limit: float = 120.0) -> ReferenceSolution | None:
    problem = build_problem(curves, constraints, objective)  # only for the boxes and the sorted curves
    ordered = problem.curves
    index = {c.program_id: i for i, c in enumerate(ordered)}
    columns: list[tuple[int, str, float, float, float, float]] = []  # (cell, kind, x0, y0, x1, y1)
    for i, curve in enumerate(ordered):
        knots, scores = curve.funding, problem.scores[i]
        lo, hi = float(problem.lo[i]), float(problem.hi[i])
        unit = constraints.units.get(curve.program_id)
        viable = unit.min_viable if unit is not None and unit.min_viable and lo == 0 else None
        if unit is not None and unit.step is not None:
            levels = np.arange(math.ceil(lo / unit.step - 1e-9), math.floor(hi / unit.step + 1e-9) + 1) * unit.step
            if viable is not None:
                levels = levels[(levels == 0) | (levels >= viable - 1e-9)]
            for x in levels:
                y = float(np.interp(x, knots, scores))
                columns.append((i, "level", float(x), y, float(x), y))
            continue
        start = lo if viable is None else max(lo, viable)
        if viable is not None:
            y = float(np.interp(0.0, knots, scores))
            columns.append((i, "level", 0.0, y, 0.0, y))
        points = np.concatenate([[start], knots[(knots > start) & (knots < hi)], [hi]]) if hi > start else [start]
        values = np.interp(points, knots, scores)
        if len(points) == 1:
            columns.append((i, "level", float(points[0]), float(values[0]), float(points[0]), float(values[0])))
        for k in range(len(points) - 1):
            columns.append((i, "segment", float(points[k]), float(values[k]), float(points[k + 1]),
                            float(values[k + 1])))
    # variables: per column a binary b (chosen) and, for segments, t in [0, 1] with t <= b (share along it)
    m = len(columns)
    owner = np.array([c[0] for c in columns])
    is_segment = np.array([c[1] == "segment" for c in columns])
    x0 = np.array([c[2] for c in columns])
    y0 = np.array([c[3] for c in columns])
    dx = np.array([c[4] - c[2] for c in columns])
    dy = np.array([c[5] - c[3] for c in columns])
    scale = max(constraints.budget, 1.0)
    n = problem.size
    # money of cell i: sum_c x0_c b_c + dx_c t_c
    money_b = sparse.csr_array((x0 / scale, (owner, np.arange(m))), shape=(n, m))
    money_t = sparse.csr_array((dx / scale, (owner, np.arange(m))), shape=(n, m))
    money = sparse.hstack([money_b, money_t]).tocsr()
    rows = [sparse.hstack([sparse.csr_array((np.ones(m), (owner, np.arange(m))), shape=(n, m)),
                           sparse.csr_array((n, m))])]
    low, high = [np.ones(n)], [np.ones(n)]  # one choice per cell
    rows.append(sparse.hstack([-sparse.eye_array(m), sparse.eye_array(m)]))  # t <= b
    low.append(np.full(m, -np.inf))
    high.append(np.zeros(m))
    total = np.ones((1, n))
    if constraints.budget_mode == "exact":
        rows.append(sparse.csr_array(total) @ money)
        low.append(np.ones(1))
        high.append(np.ones(1))
    else:
        rows.append(sparse.csr_array(total) @ money)
        low.append(np.full(1, -np.inf))
        high.append(np.ones(1))
    for share in constraints.groups:
        mask = np.array([[c.groups.get(share.column) == share.value for c in ordered]], dtype=float)
        rows.append(sparse.csr_array(mask) @ money)
        low.append(np.array([-np.inf if share.min_share is None else share.min_share]))
        high.append(np.array([np.inf if share.max_share is None else share.max_share]))
    for resource in constraints.resources:
        usage = np.zeros(n)
        for pid, amount in resource.per_money.items():
            usage[index[pid]] += amount
        for pid, amount in resource.per_unit.items():
            step = constraints.units[pid].step
            assert step is not None
            usage[index[pid]] += amount / step
        factor = max(abs(resource.available), float(np.max(np.abs(usage) * problem.hi)), 1e-12)
        rows.append(sparse.csr_array(usage[None, :] * scale / factor) @ money)
        low.append(np.full(1, -np.inf))
        high.append(np.array([resource.available / factor]))
    cost = -np.concatenate([y0, dy])
    integrality = np.concatenate([np.ones(m), np.zeros(m)])
    upper = np.concatenate([np.ones(m), np.where(is_segment, 1.0, 0.0)])
    import time

    started = time.perf_counter()
    result = milp(cost, integrality=integrality, bounds=Bounds(np.zeros(2 * m), upper),
                  constraints=LinearConstraint(sparse.vstack(rows).tocsr(), np.concatenate(low), np.concatenate(high)),
                  options={"time_limit": time_limit, "mip_rel_gap": 1e-9})
    seconds = time.perf_counter() - started
    if result.x is None:
        return None
    b, t = np.round(result.x[:m]), np.clip(result.x[m:], 0.0, 1.0)
    funding = np.bincount(owner, weights=x0 * b + dx * t, minlength=n)
    dual = getattr(result, "mip_dual_bound", None)
    return ReferenceSolution(value=problem.value(funding),
                             funding=dict(zip(problem.ids, funding.tolist(), strict=True)),
                             proven_optimal=result.status == 0,
                             dual_bound=None if dual is None or not np.isfinite(dual) else -float(dual),
                             seconds=seconds)
