"""Is the plan worth its cost? The incremental cost-effectiveness ratio (ICER) of the plan over the status quo, and
the cost-effectiveness acceptability curve (CEAC): at each willingness to pay per QALY, the chance the plan is
cost-effective.

The plan is cost-effective at a willingness to pay w when its incremental net monetary benefit is positive:
    INMB(w) = w x delta QALYs - delta cost > 0.
Cost is funding, which the plan sets, so delta cost is known; delta QALYs is uncertain, and its draws are those of
`usecases.confidence` (each programme's forecast times a log-normal error from its interval, plan and status quo
sharing the draw), so the curve and "P(plan beats status quo)" read the same numbers. With delta cost > 0 the
curve rises with w (a higher price per QALY is met by more draws); with delta cost < 0 (the plan saves money) it
falls; with the same budget it is the chance of any QALY gain at every w > 0. NICE's usual thresholds, 20,000 and
30,000 per QALY, are marked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from allocation import OutcomeCurve
from usecases.confidence import outcome_gain_draws

WILLINGNESS_TO_PAY = tuple(float(w) for w in range(0, 50_001, 2_500))
"""Per QALY, the thresholds the curve is read at (every 2,500 from 0 to 50,000)."""
NICE_THRESHOLDS = (20_000.0, 30_000.0)
SAME_BUDGET = 0.5
"""Budgets closer than this (money) count as the same: no ICER, the plan either dominates or not."""


@dataclass(frozen=True)
class AcceptabilityCurve:
    willingness_to_pay: tuple[float, ...]
    probability_cost_effective: tuple[float, ...]
    """At each willingness to pay, the share of draws with INMB > 0."""
    delta_cost: float
    delta_qalys: float
    """The forecast (point) QALY gain of the plan, as in the plan's totals."""
    delta_qalys_p05: float
    delta_qalys_p95: float
    icer: float | None
    """Delta cost per QALY gained; None when the plan gains no QALYs or costs the same."""
    draws: int

    def at(self, willingness_to_pay: float) -> float:
        return self.probability_cost_effective[self.willingness_to_pay.index(float(willingness_to_pay))]

    def to_dict(self) -> dict[str, Any]:
        return {"willingness_to_pay": list(self.willingness_to_pay),
                "probability_cost_effective": list(self.probability_cost_effective),
                "delta_cost": self.delta_cost, "delta_qalys": self.delta_qalys,
                "delta_qalys_p05": self.delta_qalys_p05, "delta_qalys_p95": self.delta_qalys_p95,
                "icer": self.icer, "draws": self.draws,
                "nice": {f"{w:.0f}": self.at(w) for w in NICE_THRESHOLDS if w in self.willingness_to_pay}}


def icer(delta_cost: float, delta_qalys: float) -> float | None:
    """Delta cost per QALY gained, defined only when the plan gains QALYs at a different cost."""
    if abs(delta_cost) < SAME_BUDGET or delta_qalys <= 0:
        return None
    return delta_cost / delta_qalys


def acceptability_curve(curves: Sequence[OutcomeCurve], plan: dict[str, float],
                        willingness_to_pay: Sequence[float] = WILLINGNESS_TO_PAY, seed: int = 0) -> AcceptabilityCurve:
    """The plan (funding per programme; programmes left out keep current funding) against the status quo."""
    allocation = {c.program_id: float(plan.get(c.program_id, c.current_funding)) for c in curves}
    delta_cost = float(sum(allocation.values()) - sum(c.current_funding for c in curves))
    gains = outcome_gain_draws(curves, allocation, seed, metric="qalys")
    thresholds = np.asarray(willingness_to_pay, dtype=float)
    benefit = thresholds[:, None] * gains[None, :] - delta_cost
    point = float(sum(np.interp(allocation[c.program_id], c.funding, c.metrics["qalys"])
                      - np.interp(c.current_funding, c.funding, c.metrics["qalys"]) for c in curves))
    return AcceptabilityCurve(
        tuple(float(w) for w in thresholds), tuple(float(p) for p in (benefit > 0).mean(axis=1)), delta_cost,
        point, float(np.quantile(gains, 0.05)), float(np.quantile(gains, 0.95)), icer(delta_cost, point),
        len(gains))


def cost_per_outcome(totals: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Cost per reliable improvement and per QALY under status quo and plan, the deltas, the ICER and its verdict."""
    plan, now = totals["plan"], totals["status_quo"]
    delta_cost = plan["funding"] - now["funding"]
    delta_qaly = (plan.get("qalys") or 0.0) - (now.get("qalys") or 0.0)
    delta_ri = (plan.get("reliable_improvements") or 0.0) - (now.get("reliable_improvements") or 0.0)
    ratio = icer(delta_cost, delta_qaly)
    if abs(delta_cost) < SAME_BUDGET:
        verdict = ("same budget: the plan " + ("dominates the status quo (more QALYs for the same money)"
                                               if delta_qaly > 0 else "gains no QALYs over the status quo"))
    elif ratio is None:
        verdict = "the plan costs more (or saves money) without gaining QALYs: no ICER"
    else:
        verdict = f"incremental cost per QALY gained: {ratio:,.0f}"

    def per(metric: str, row: dict[str, Any]) -> float | None:
        value = row.get(metric) or 0.0
        return row["funding"] / value if value > 0 else None

    return {"delta_cost": delta_cost, "delta_qaly": delta_qaly, "delta_ri": delta_ri, "icer": ratio,
            "verdict": verdict,
            "rows": [(name, per("reliable_improvements", row), per("qalys", row))
                     for name, row in (("status quo", now), ("plan", plan))]}
