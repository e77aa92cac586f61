"""Scoring a given split, shared by `evaluate()`, the result totals and the baselines so they agree."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from allocation.curves import OutcomeCurve
from allocation.objectives import Objective
from allocation.result import PlanEvaluation


def common_metrics(curves: Sequence[OutcomeCurve]) -> tuple[str, ...]:
    """Metrics every curve has; only those can be summed into plan totals without silent gaps."""
    shared = set(curves[0].metrics)
    for curve in curves[1:]:
        shared &= set(curve.metrics)
    return tuple(sorted(shared))


def evaluate_plan(
    curves: Sequence[OutcomeCurve], allocation: Mapping[str, float], objective: Objective
) -> PlanEvaluation:
    ordered = sorted(curves, key=lambda c: c.program_id)
    ids = [c.program_id for c in ordered]
    missing = sorted(set(ids) - set(allocation))
    extra = sorted(set(allocation) - set(ids))
    if missing or extra:
        raise ValueError(
            f"allocation must name every programme exactly once (missing: {', '.join(missing) or '-'}; "
            f"unknown: {', '.join(extra) or '-'})"
        )
    metrics = common_metrics(ordered)
    per_programme: dict[str, dict[str, float]] = {}
    outside: list[str] = []
    objective_value = 0.0
    for curve in ordered:
        amount = float(allocation[curve.program_id])
        if not np.isfinite(amount) or amount < 0:
            raise ValueError(f"programme {curve.program_id}: funding must be finite and >= 0, got {amount}")
        if not curve.funding_min <= amount <= curve.funding_max:
            outside.append(curve.program_id)
        row = {name: float(curve.value(name, amount)) for name in sorted(curve.metrics)}
        row["objective"] = float(np.interp(amount, curve.funding, objective.score_grid(curve)))
        objective_value += row["objective"]
        per_programme[curve.program_id] = row
    totals = {"funding": float(sum(float(allocation[pid]) for pid in ids))}
    for name in metrics:
        totals[name] = float(sum(per_programme[pid][name] for pid in ids))
    totals["objective"] = objective_value
    return PlanEvaluation(
        funding={pid: float(allocation[pid]) for pid in ids},
        objective_value=objective_value,
        totals=totals,
        per_programme=per_programme,
        outside_forecast_grid=tuple(outside),
    )
