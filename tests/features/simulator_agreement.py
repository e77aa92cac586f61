"""The check that the truth (synthetic/truth.py) summarises exactly what the simulator draws, shared by the tests
of the smooth world and of every hard regime."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.outcomes import derive_outcomes
from synthetic.mechanism import courses_per_referral
from synthetic.plan import build_plan
from synthetic.simulate import treat_offered
from synthetic.truth import Truth


def assert_truth_matches_simulator(regime: str) -> None:
    """120,000 patients drawn at 1.2x current funding for two programmes against the truth's curve there. The
    truth's cohort has 3,000 patients, so agreement is to within its sampling error."""
    plan = build_plan("mental-health", 10_000, seed=4, regime=regime)
    truth = Truth(plan)
    a = plan.arrays
    for i in (0, 3):
        funding = truth.current_funding[truth.program_ids[i]] * 1.2
        kappa = courses_per_referral(np.array([funding]), np.array([float(plan.next_referrals[i])]), a.unit_cost[i],
                                     a.standard_sessions[i], a.overhead[i])[0]
        n = 120_000
        drawn = treat_offered(np.random.default_rng(0), plan.preset, a, np.full(n, i), np.full(n, kappa))
        names = np.array(list(plan.preset.instruments))[drawn["instrument"]]
        flags = derive_outcomes(pd.Series(names), pd.Series(drawn["baseline"]), pd.Series(drawn["final"]))
        curve = truth.curve(truth.program_ids[i], np.array([funding])).iloc[0]
        assert flags["reliable_improvement"].mean() == pytest.approx(
            curve["reliable_improvements"] / curve["episodes"], abs=0.012)
        assert drawn["dropped_out"].mean() == pytest.approx(curve["dropouts"] / curve["episodes"], abs=0.012)
        assert drawn["sessions"].mean() == pytest.approx(curve["cost"] / curve["episodes"] / a.unit_cost[i], rel=0.03)
