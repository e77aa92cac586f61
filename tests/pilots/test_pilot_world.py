"""Pilot mode of the synthetic world, and the evaluation scored against its exact truth."""

from __future__ import annotations

import numpy as np
import pytest

from pilots import PilotSpec, evaluate_pilot
from synthetic.pilot import true_pilot_effect
from synthetic.pilot_runs import simulate_pilot
from synthetic.plan import PilotChange, build_plan, with_pilot
from synthetic.truth import Truth

PILOTED = ("P001", "P004", "P007", "P010", "P013", "P016")


@pytest.fixture(scope="module")
def world():  # type: ignore[no-untyped-def]
    plan = build_plan("mental-health", 40_000, seed=21)
    return plan, Truth(plan, cohort_size=800)


def test_pilot_changes_only_the_chosen_funding_from_the_start_period() -> None:
    plan = build_plan("mental-health", 4_000, seed=3)
    piloted = with_pilot(plan, PilotChange(("P002", "P005"), "2025-Q1", 1.5))
    changed = ~np.isclose(piloted.funding, plan.funding, atol=1.0)
    assert set(np.flatnonzero(changed.any(axis=1))) == {1, 4}
    assert not changed[:, :4].any() and changed[[1, 4], 4:].all()
    assert np.allclose(piloted.funding[1, 4:], plan.funding[1, 4:] * 1.5, atol=1.0)
    assert plan.pilot is None and piloted.pilot is not None


@pytest.mark.parametrize(("change", "message"), [
    (PilotChange(("P999",), "2025-Q1", 1.5), "unknown: ['P999']"),
    (PilotChange(("P001",), "2024-Q1", 1.5), "at least one period before it"),
    (PilotChange(("P001",), "2025-Q1", 0.0), "funding_factor must be > 0"),
])
def test_bad_pilot_changes(change: PilotChange, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        with_pilot(build_plan("mental-health", 2_000, seed=3), change)


def test_true_effect_is_zero_without_a_change_and_positive_with_more_money(world) -> None:  # type: ignore[no-untyped-def]
    plan, truth = world
    none = true_pilot_effect(with_pilot(plan, PilotChange(PILOTED, "2025-Q1", 1.0)), truth)
    more = true_pilot_effect(with_pilot(plan, PilotChange(PILOTED, "2025-Q1", 2.0)), truth)
    assert none.reliable_improvement_rate == pytest.approx(0.0, abs=1e-12)
    assert more.reliable_improvement_rate > 0.01
    assert all(v > 0 for v in more.per_program.values())
    with pytest.raises(ValueError, match="no pilot change"):
        true_pilot_effect(plan, truth)


def _evaluate(world, factor: float, replicate: int):  # type: ignore[no-untyped-def]
    plan, truth = world
    aggregates, true = simulate_pilot(plan, PilotChange(PILOTED, "2025-Q1", factor, replicate), truth)
    others = [p for p in plan.programs["program_id"] if p not in PILOTED]
    spec = PilotSpec(pilot_programs=list(PILOTED), pre_periods=list(plan.periods[:4]),
                     post_periods=list(plan.periods[4:]), controls=others)
    return evaluate_pilot(spec, aggregates).effect("reliable_improvement_itt").did, true


def test_estimate_recovers_a_known_effect(world) -> None:  # type: ignore[no-untyped-def]
    did, true = _evaluate(world, 3.0, replicate=1)
    assert did is not None
    assert did.ci_low <= true.reliable_improvement_rate <= did.ci_high
    assert abs(did.estimate - true.reliable_improvement_rate) < 2.5 * did.std_error
    assert did.p_value < 0.05  # a tripling of funding in 6 programmes is visible at this seed


def test_zero_effect_is_not_rejected(world) -> None:  # type: ignore[no-untyped-def]
    did, true = _evaluate(world, 1.0, replicate=2)
    assert did is not None and true.reliable_improvement_rate == 0.0
    assert did.p_value > 0.05 and did.ci_low < 0 < did.ci_high
