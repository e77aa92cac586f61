"""The simulated next period follows the plan's funding through the world's own mechanism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthetic.next_period import simulate_next_period
from synthetic.plan import build_plan
from synthetic.truth import Truth


@pytest.fixture(scope="module")
def plan():
    return build_plan("mental-health", 6_000, seed=11)


def test_same_replicate_same_episodes_other_replicate_other_draws(plan) -> None:
    funding = plan.current_funding.astype(float)
    first = simulate_next_period(plan, funding, replicate=0)
    pd.testing.assert_frame_equal(first, simulate_next_period(plan, funding, replicate=0))
    assert not first.equals(simulate_next_period(plan, funding, replicate=1))
    assert set(first["period"]) == {plan.next_period}


def test_episodes_follow_the_truth_and_respond_to_funding(plan) -> None:
    truth = Truth(plan)
    for factor in (0.5, 1.5):
        funding = plan.current_funding.astype(float) * factor
        draws = [len(simulate_next_period(plan, funding, replicate=r)) for r in range(8)]
        expected = truth.value(dict(zip(truth.program_ids, funding.tolist(), strict=True)), "episodes")
        # eight draws of a Poisson-binomial count: their mean lies within 4 standard errors of the expectation
        assert abs(np.mean(draws) - expected) < 4 * np.sqrt(expected / 8) + 0.02 * expected
    low = len(simulate_next_period(plan, plan.current_funding * 0.5, replicate=3))
    high = len(simulate_next_period(plan, plan.current_funding * 1.5, replicate=3))
    assert high > low


def test_funding_of_the_wrong_shape_or_sign_is_refused(plan) -> None:
    with pytest.raises(ValueError, match="one per programme"):
        simulate_next_period(plan, np.ones(3), replicate=0)
    with pytest.raises(ValueError, match="one per programme"):
        simulate_next_period(plan, -plan.current_funding, replicate=0)
