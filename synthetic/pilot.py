"""The true effect of a simulated pilot, from the world's exact expectations (`synthetic.truth`).

The estimand a pilot evaluation targets is the average treatment effect on the piloted programmes (ATT) on the
intention-to-treat reliable-improvement rate per episode in the post periods: for each piloted programme, its
expected post-period rate at the piloted funding minus its expected rate at the funding it would have had, the
programmes weighted by their expected post-period episodes under the pilot. (The same is given for the dropout
rate.) It is computed from the world, never from the sample.

`Truth.curve` gives exact expected outcomes for the next period's referrals; a historical period's outcome per
episode depends on funding only through courses per referral (kappa), so a period is evaluated at the funding
that gives the same kappa for the next period's referrals, and its expected episodes are rescaled to the
period's referrals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic.plan import WorldPlan
from synthetic.truth import Truth


@dataclass(frozen=True)
class PilotTruth:
    reliable_improvement_rate: float
    """ATT on the ITT reliable-improvement rate (share of episodes), post periods, piloted programmes."""
    dropout_rate: float
    per_program: dict[str, float]
    """The reliable-improvement rate effect of each piloted programme."""


def _rates(truth: Truth, program: int, funding: np.ndarray, referrals: np.ndarray) -> dict[str, np.ndarray]:
    next_referrals = float(truth.plan.next_referrals[program])
    scale = referrals / next_referrals
    curve = truth.curve(truth.program_ids[program], funding / np.maximum(scale, 1e-12))
    return {"episodes": curve["episodes"].to_numpy() * scale,
            "reliable_improvements": curve["reliable_improvements"].to_numpy() * scale,
            "dropouts": curve["dropouts"].to_numpy() * scale}


def true_pilot_effect(piloted: WorldPlan, truth: Truth) -> PilotTruth:
    """Exact ATT of `piloted` (a plan from `with_pilot`) against the same world at unchanged funding."""
    change = piloted.pilot
    if change is None:
        raise ValueError("the plan carries no pilot change (build it with synthetic.plan.with_pilot)")
    ids = list(piloted.programs["program_id"])
    post = slice(piloted.periods.index(change.start_period), len(piloted.periods))
    effects, weights, dropout_effects = {}, [], []
    for p in change.programs:
        i = ids.index(p)
        referrals = piloted.referrals[i, post].astype(float)
        with_pilot = _rates(truth, i, piloted.funding[i, post], referrals)
        without = _rates(truth, i, piloted.funding[i, post] / change.funding_factor, referrals)
        n1, n0 = with_pilot["episodes"].sum(), without["episodes"].sum()
        effects[p] = float(with_pilot["reliable_improvements"].sum() / n1 - without["reliable_improvements"].sum() / n0)
        dropout_effects.append(float(with_pilot["dropouts"].sum() / n1 - without["dropouts"].sum() / n0))
        weights.append(n1)
    w = np.asarray(weights) / np.sum(weights)
    return PilotTruth(reliable_improvement_rate=float(w @ np.array(list(effects.values()))),
                      dropout_rate=float(w @ np.array(dropout_effects)), per_program=effects)
