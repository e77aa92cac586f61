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


def test_one_replicate_under_two_fundings_is_the_same_patients(plan) -> None:
    """Common random numbers: moving one programme's money leaves every other programme's episodes as they were,
    and more money offers treatment to the same referrals and more."""
    funding = plan.current_funding.astype(float)
    more = funding.copy()
    more[0] *= 1.3
    first, second = (simulate_next_period(plan, f, replicate=2) for f in (funding, more))
    moved = plan.programs["program_id"].iloc[0]
    columns = ["program_id", "baseline_score", "final_score", "dropped_out", "sessions_attended", "age", "payer"]
    kept = [frame[frame["program_id"] != moved][columns].reset_index(drop=True) for frame in (first, second)]
    pd.testing.assert_frame_equal(kept[0], kept[1])
    assert (second["program_id"] == moved).sum() > (first["program_id"] == moved).sum()
    baselines = [frame.loc[frame["program_id"] == moved, ["age", "baseline_score"]] for frame in (first, second)]
    common = baselines[0].merge(baselines[1].drop_duplicates(), how="left", indicator=True)
    assert (common["_merge"] == "both").mean() > 0.99  # the patients offered before are offered again


def test_funding_of_the_wrong_shape_or_sign_is_refused(plan) -> None:
    with pytest.raises(ValueError, match="one per programme"):
        simulate_next_period(plan, np.ones(3), replicate=0)
    with pytest.raises(ValueError, match="one per programme"):
        simulate_next_period(plan, -plan.current_funding, replicate=0)
