"""Scoring a given split, shared by `evaluate()`, the result totals and the baselines so they agree."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from allocation.curves import GridPositions, OutcomeCurve
from allocation.objectives import Objective
from allocation.result import PlanEvaluation


def common_metrics(curves: Sequence[OutcomeCurve]) -> tuple[str, ...]:
    """Metrics every curve has; only those can be summed into plan totals without silent gaps."""
    shared = set(curves[0].metrics)
    for curve in curves[1:]:
        shared &= set(curve.metrics)
    return tuple(sorted(shared))


def evaluate_plan(
    curves: Sequence[OutcomeCurve],
    allocation: Mapping[str, float],
    objective: Objective,
    *,
    scores: Sequence[np.ndarray] | None = None,
) -> PlanEvaluation:
    """Every metric and the objective of every programme at its funding, read off all curves at once.

    ``scores``: the objective on each curve's grid in program_id order, when the caller has it already
    (`Problem.scores`). The numbers are those of one np.interp per programme and metric (see
    `GridPositions`); totals are added in programme order with Python's ``sum`` and the objective with
    ``+=``, as they always were, so results do not move by a rounding step between versions.
    """
    ordered = sorted(curves, key=lambda c: c.program_id)
    ids = [c.program_id for c in ordered]
    missing = sorted(set(ids) - set(allocation))
    extra = sorted(set(allocation) - set(ids))
    if missing or extra:
        raise ValueError(
            f"allocation must name every programme exactly once (missing: {', '.join(missing) or '-'}; "
            f"unknown: {', '.join(extra) or '-'})"
        )
    funding: list[float] = []
    for pid in ids:
        amount = float(allocation[pid])
        if not math.isfinite(amount) or amount < 0:
            raise ValueError(f"programme {pid}: funding must be finite and >= 0, got {amount}")
        funding.append(amount)
    names = sorted(set().union(*(c.metrics for c in ordered)))
    # A curve without some metric gets its grid as a placeholder row: read, never reported.
    series = [[c.metrics.get(name, c.funding) for c in ordered] for name in names]
    series.append(list(scores) if scores is not None else [objective.score_grid(c) for c in ordered])
    at = GridPositions([c.funding for c in ordered], np.array(funding))
    read = at.values(series)
    labels = (*names, "objective")
    per_programme = {}
    for pid, curve, values in zip(ids, ordered, read.T.tolist(), strict=True):
        row = dict(zip(labels, values, strict=True))
        if len(curve.metrics) < len(names):
            row = {name: row[name] for name in (*sorted(curve.metrics), "objective")}
        per_programme[pid] = row
    columns = dict(zip(labels, read.tolist(), strict=True))
    objective_value = 0.0
    for value in columns["objective"]:
        objective_value += value
    totals = {"funding": float(sum(funding))}
    for name in common_metrics(ordered):
        totals[name] = float(sum(columns[name]))
    totals["objective"] = objective_value
    return PlanEvaluation(
        funding=dict(zip(ids, funding, strict=True)),
        objective_value=objective_value,
        totals=totals,
        per_programme=per_programme,
        outside_forecast_grid=tuple(pid for pid, out in zip(ids, at.outside.tolist(), strict=True) if out),
    )
