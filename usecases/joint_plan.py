"""Plans for clinic networks whose categories act together: the optimizer on curves re-centred on the plan.

Why: with the joint clinic model (`models.clinic`) a clinic's value depends on its whole spend vector, which the
optimizer's separable curves cannot hold. Each cell's curve is therefore the clinic's joint forecast along that
cell's funding with the clinic's other categories held at a plan point, shifted so that a clinic's curves add up
to its joint value there (each cell carries its spend share of it, as booking does):

    curve_k(F) = share_k x V_c(s) + V_c(s with s_k = F) - V_c(s)

The optimizer solves those curves exactly (its certificate holds for them); the plan it returns is the next
centre, up to ROUNDS times from the status quo, and the plan with the highest joint forecast of every clinic
wins. The joint problem is thereby solved locally, not globally: the certificate bounds the winning curves'
problem, not the joint one. Bands, episodes and dropouts are the programme curves' rates at the joint counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from allocation import Constraints, Objective, OutcomeCurve, optimize
from allocation.result import AllocationResult
from models.bundle import CareAllocBundle
from models.clinic import ClinicValues
from models.forecast import QALY_PER_RELIABLE_IMPROVEMENT
from usecases.curves import outcome_curves

ROUNDS = 6
"""Re-centrings at most; on development worlds the plan stopped moving after three or four."""
SETTLED = 1e-6
"""A plan that moves less than this share of the budget from its centre has settled."""


def clinic_values(bundle: CareAllocBundle) -> ClinicValues | None:
    clinic = getattr(bundle.suite, "clinic", None)
    return None if clinic is None else clinic.values


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.divide(numerator, denominator, out=np.ones_like(numerator), where=denominator > 1e-12)


def joint_curves(values: ClinicValues, centre: Mapping[str, float], curves: Sequence[OutcomeCurve]
                 ) -> tuple[OutcomeCurve, ...]:
    """The programme curves with reliable improvements (and the counts that follow them) from the joint clinic
    forecast along each cell, the clinic's other cells at `centre` (module docstring)."""
    out = []
    for curve in curves:
        try:
            c, k = values.index_of(curve.program_id)
        except KeyError:
            out.append(curve)
            continue
        spend = values.spend_of(c, dict(centre))
        at_centre = float(values.outcomes(c, spend[None, :])["reliable_improvements"][0])
        share = spend[k] / spend.sum() if spend.sum() > 0 else 1.0 / len(spend)
        trial = np.tile(spend, (len(curve.funding), 1))
        trial[:, k] = curve.funding
        joint = values.outcomes(c, trial)["reliable_improvements"]
        ri = np.maximum(share * at_centre + joint - at_centre, 0.0)
        old = dict(curve.metrics)
        scale = _ratio(ri, old["reliable_improvements"])
        metrics = {name: np.asarray(v) * scale for name, v in old.items()}
        metrics["reliable_improvements"] = ri
        if "qalys" in metrics:
            metrics["qalys"] = ri * QALY_PER_RELIABLE_IMPROVEMENT
        out.append(replace(curve, metrics=metrics))
    return tuple(out)


def optimize_joint(bundle: CareAllocBundle, constraints: Constraints, objective: Objective = Objective(),  # noqa: B008
                   curves: Sequence[OutcomeCurve] | None = None) -> tuple[AllocationResult, tuple[OutcomeCurve, ...]]:
    """The best plan and the curves it was solved on; the separable optimum where the bundle has no clinic
    model."""
    base = tuple(outcome_curves(bundle) if curves is None else curves)
    values = clinic_values(bundle)
    if values is None:
        return optimize(base, constraints, objective), base
    centre = {c.program_id: c.current_funding for c in base}
    budget = max(sum(centre.values()), 1.0)
    best: tuple[float, AllocationResult, tuple[OutcomeCurve, ...]] | None = None
    for _ in range(ROUNDS):
        centred = joint_curves(values, centre, base)
        result = optimize(centred, constraints, objective)
        plan = result.allocation
        value = values.total(plan)
        if best is None or value > best[0]:
            best = (value, result, centred)
        moved = sum(abs(plan[p] - centre[p]) for p in plan) / budget
        if moved < SETTLED:
            break
        centre = plan
    assert best is not None
    return best[1], best[2]
