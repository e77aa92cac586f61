"""An objective that counts money: outcomes valued in money plus the payer contracts' expected payments.

A contract pays on one metric over its whole measured population, m = N(f) / D(f) with
    N(f) = sum_p share_p * ratio_p * outcome_p(f_p)   (outcome: reliable improvements, or for retention episodes
                                                       minus dropouts, the dropouts moved by the programme's
                                                       within-programme slope as in the projection)
    D(f) = sum_p share_p * episodes_p(f_p)
(the bridge of `usecases.contract_projection`), and its expected payment g(m) is a step-shaped function smoothed by
the metric's spread. Neither g nor the ratio is separable by programme, so the exact optimizer cannot take it as it
is. Linearised at a plan f0, g(N/D) ~ g(m0) + g'(m0) / D0 * (N(f) - m0 * D(f)), which is a sum over programmes of
curves on their own grids: the optimizer solves that exactly. The plan is re-linearised where the last step landed,
a few times, and the best plan found (scored by the full projection, not the linear model) is kept; the status quo
and the outcomes-only plan are candidates too, so the money objective never scores below either.
The answer is therefore exact for each linear step and locally optimal overall, and says so.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from allocation import Constraints, Objective, OutcomeCurve, optimize
from features.contracts import Contract, ContractSet
from models.bundle import CareAllocBundle
from usecases.contract_projection import (
    ContractProjection,
    dropout_slopes,
    payment_draws,
    population_ratios,
    project_contracts,
    retention_dropouts,
)

LINEARISATIONS = 6
SLOPE_STEP = 0.005
"""Metric step (0.5 points) of the central difference for the payment's slope: small against tier gaps."""


@dataclass(frozen=True)
class MoneyScore:
    """A plan in money: outcomes valued at `value_per_improvement`, plus expected contract payments."""

    plan: str
    allocation: dict[str, float]
    reliable_improvements: float
    expected_payments: float
    funding: float
    value: float
    """value_per_improvement x reliable improvements + expected payments - funding."""
    contracts: tuple[ContractProjection, ...]


@dataclass(frozen=True)
class ContractValuePlan:
    best: MoneyScore
    candidates: tuple[MoneyScore, ...]
    linearisations: int
    method: str


def _population_terms(bundle: CareAllocBundle, table: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per programme: (share of its episodes in the population, the population's rate ratio), from the contract's
    `population_ratios`."""
    shares = table["share"].to_numpy(dtype=float)
    ratios = table["ratio"].to_numpy(dtype=float)
    return {str(p): (float(s), float(r)) for p, s, r in zip(table["program_id"], shares, ratios, strict=True)
            if s > 0 and str(p) in bundle.programs}


def _numerator(contract: Contract, bundle: CareAllocBundle, curve: OutcomeCurve, share: float, ratio: float,
               slopes: dict[str, float]) -> np.ndarray:
    episodes = curve.metrics["episodes"]
    if contract.metric == "retention":
        dropouts = retention_dropouts(bundle, curve.program_id, curve.funding, episodes,
                                      slopes.get(curve.program_id, 0.0))
        return share * (episodes - ratio * dropouts)
    return share * ratio * curve.metrics["reliable_improvements"]


def _payment_slope(contract: Contract, projection: ContractProjection) -> float:
    """d E[payment] / d metric at the projected metric, with the same draws on both sides."""
    n = round(projection.episodes)
    up = payment_draws(contract, projection.value + SLOPE_STEP, projection.metric_sd, n, seed=7)[1].mean()
    down = payment_draws(contract, projection.value - SLOPE_STEP, projection.metric_sd, n, seed=7)[1].mean()
    return float((up - down) / (2 * SLOPE_STEP))


def money_score(name: str, bundle: CareAllocBundle, curves: Sequence[OutcomeCurve], allocation: dict[str, float],
                contracts: ContractSet, episodes: pd.DataFrame, value_per_improvement: float,
                ratios: Sequence[pd.DataFrame] | None = None, slopes: dict[str, float] | None = None) -> MoneyScore:
    projections = tuple(project_contracts(contracts, bundle, allocation, episodes, ratios, slopes))
    improvements = float(sum(np.interp(allocation[c.program_id], c.funding, c.metrics["reliable_improvements"])
                             for c in curves))
    payments = float(sum(p.expected_payment for p in projections))
    funding = float(sum(allocation.values()))
    return MoneyScore(name, allocation, improvements, payments, funding,
                      value_per_improvement * improvements + payments - funding, projections)


def _linearised_curves(bundle: CareAllocBundle, curves: Sequence[OutcomeCurve], contracts: ContractSet,
                       projections: Sequence[ContractProjection], terms: Sequence[dict[str, tuple[float, float]]],
                       allocation: dict[str, float], value_per_improvement: float,
                       slopes: dict[str, float]) -> list[OutcomeCurve]:
    """Each programme's money score on its own grid, with the payments linearised at `allocation`."""
    by_id = {c.program_id: c for c in curves}
    scores = {c.program_id: value_per_improvement * c.metrics["reliable_improvements"] - c.funding for c in curves}
    for contract, projection, population in zip(contracts.contracts, projections, terms, strict=True):
        if contract.metric == "satisfaction" or not population:
            continue  # satisfaction does not respond to funding in the models
        slope = _payment_slope(contract, projection)
        if slope == 0.0:
            continue
        denominator = sum(share * float(np.interp(allocation[p], by_id[p].funding, by_id[p].metrics["episodes"]))
                          for p, (share, _) in population.items())
        if denominator <= 0:
            continue
        for program, (share, ratio) in population.items():
            curve = by_id[program]
            numerator = _numerator(contract, bundle, curve, share, ratio, slopes)
            scores[program] = scores[program] + slope / denominator * (
                numerator - projection.value * share * curve.metrics["episodes"])
    return [dataclasses.replace(c, metrics={"reliable_improvements": scores[c.program_id]}) for c in curves]


def contract_value_plan(bundle: CareAllocBundle, curves: Sequence[OutcomeCurve], constraints: Constraints,
                        contracts: ContractSet, episodes: pd.DataFrame, value_per_improvement: float,
                        linearisations: int = LINEARISATIONS) -> ContractValuePlan:
    """The plan with the most money value under `constraints`; raises InfeasibleConstraintsError like `optimize`.

    `value_per_improvement`: what the department counts one reliable improvement as worth, in money (0 counts
    payments and cost only). `episodes`: the department's recent episodes, which locate each contract's population.
    """
    if not np.isfinite(value_per_improvement) or value_per_improvement < 0:
        raise ValueError(f"value_per_improvement must be a finite amount >= 0, got {value_per_improvement}")
    curves = list(curves)
    ratios = [population_ratios(c, episodes) for c in contracts.contracts]  # measured once, used by every plan
    terms = [_population_terms(bundle, table) for table in ratios]
    slopes = dropout_slopes(bundle)
    current = {c.program_id: float(c.current_funding) for c in curves}
    outcomes_only = optimize(curves, constraints, Objective()).allocation
    candidates = [money_score("status quo", bundle, curves, current, contracts, episodes, value_per_improvement,
                              ratios, slopes),
                  money_score("outcomes only", bundle, curves, outcomes_only, contracts, episodes,
                              value_per_improvement, ratios, slopes)]
    at = candidates[1]
    done = 0
    for done in range(1, linearisations + 1):
        linear = _linearised_curves(bundle, curves, contracts, at.contracts, terms, at.allocation,
                                    value_per_improvement, slopes)
        step = optimize(linear, constraints, Objective()).allocation
        scored = money_score(f"linearisation {done}", bundle, curves, step, contracts, episodes,
                             value_per_improvement, ratios, slopes)
        candidates.append(scored)
        moved = max(abs(step[p] - at.allocation[p]) for p in step)
        at = scored
        if moved <= 1e-6 * max(constraints.budget, 1.0):
            break
    best = max(candidates, key=lambda s: s.value)
    method = (f"money objective: {value_per_improvement:,.0f} per reliable improvement + expected contract payments"
              f" - funding; payments linearised at the last plan and solved exactly, {done} time(s); best of "
              f"{len(candidates)} plans (status quo and outcomes-only included) by the full projection; "
              "locally, not globally, optimal")
    return ContractValuePlan(best, tuple(candidates), done, method)
