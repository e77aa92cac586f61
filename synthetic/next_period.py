"""The next period of a synthetic world under any funding: episodes as the contract tables would record them.

The truth (`synthetic.truth.Truth`) gives exact expected programme outcomes; a payer contract measures a
sub-population (a payer, an instrument, an intake threshold) on metrics such as response or retention that the
truth does not tabulate. Simulating the period itself, through the same mechanism that wrote the history, gives
those metrics for any population and plan; repeated draws give their distribution, and so the true chance of each
tier and the true expected payment.

In a programme world the period is drawn referral by referral (`simulate_referred`): a replicate's referrals and
each referred patient's random numbers do not depend on the funding, so two plans under one replicate differ only
where their funding changed a patient's course, and the difference of two plans has a small Monte Carlo error
(common random numbers). A clinic world's arrivals depend on its marketing spend, so there one replicate's draws
of two plans are only partly common.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from synthetic.plan import WorldPlan
from synthetic.simulate import simulate_episodes, simulate_referred


def simulate_next_period(plan: WorldPlan, funding: np.ndarray, replicate: int) -> pd.DataFrame:
    """One realisation of the next period's episodes with `funding` per programme (plan order).

    Referrals are drawn around the world's expected next-period referrals; each `replicate` is an independent
    stream, so the same (plan, funding, replicate) always gives the same episodes, and (in a programme world) the
    same replicate under another funding the same referred patients.
    """
    funding = np.asarray(funding, dtype=float)
    if funding.shape != plan.current_funding.shape or not np.all(np.isfinite(funding)) or np.any(funding < 0):
        raise ValueError(f"funding must be {plan.current_funding.size} finite amounts >= 0, one per programme")
    stream = np.random.SeedSequence([plan.seed, 9, replicate])
    draw = np.random.default_rng(stream)
    referrals = draw.poisson(plan.next_referrals)
    clinics = plan.clinics
    if clinics is not None:  # referrals arrive at clinics, marketing included (clinics.py)
        base = clinics.next_base_referrals
        arriving = draw.poisson(base * clinics.referral_lift(clinics.spend(funding)[:, 3], base))
        clinics = replace(clinics, base_referrals=base[:, None], referrals=arriving[:, None].astype(np.int64))
    period = replace(plan, seed=int(stream.generate_state(1)[0]), periods=(plan.next_period,),
                     funding=funding[:, None], referrals=referrals[:, None].astype(np.int64), pilot=None,
                     clinics=clinics)
    return simulate_episodes(period)[1] if clinics is not None else simulate_referred(period)
