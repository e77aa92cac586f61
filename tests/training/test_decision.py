"""Decision quality is measured against the truth, and the recommendation must not lose to doing nothing."""

from __future__ import annotations

from allocation.baselines import BASELINE_NAMES
from synthetic.decision import score_against_truth
from synthetic.truth import Truth


def test_recommendation_beats_status_quo_in_truth(small_world, trained) -> None:
    plan, _, _ = small_world
    _, _, bundle = trained
    score = score_against_truth(bundle, Truth(plan, cohort_size=1000))
    assert score.oracle >= score.recommendation - 1e-6  # the oracle is the best the truth allows
    assert score.oracle > score.status_quo
    captured = score.captured(score.recommendation)
    assert captured is not None and captured > 0.3, score
    assert set(score.baselines) == set(BASELINE_NAMES) - {"status_quo"}
