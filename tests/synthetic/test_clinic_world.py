"""The clinic-category world: each category acts through its own lever, clinics differ in tier and case mix, the
truth is what the simulator draws, and the oracle is the best plan the truth allows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.contract import validate_tables
from features.outcomes import derive_outcomes
from synthetic.clinic_truth import ClinicTruth
from synthetic.clinics import ClinicWorld
from synthetic.mechanism import courses_per_referral
from synthetic.next_period import simulate_next_period
from synthetic.plan import WorldPlan, build_plan
from synthetic.presets import CATEGORIES
from synthetic.simulate import simulate_episodes, treat_offered
from synthetic.truth import Truth

PRESET = "physical-therapy-clinics"


@pytest.fixture(scope="module")
def plan() -> WorldPlan:
    return build_plan(PRESET, 10_000, seed=4)


@pytest.fixture(scope="module")
def truth(plan: WorldPlan) -> ClinicTruth:
    made = Truth(plan, cohort_size=3000)
    assert isinstance(made, ClinicTruth)
    return made


def _world(plan: WorldPlan) -> ClinicWorld:
    assert plan.clinics is not None
    return plan.clinics


def _spend(plan: WorldPlan, clinic: int, factors: tuple[float, float, float, float]) -> np.ndarray:
    return plan.current_funding[_world(plan).rows[clinic]] * np.array(factors)


def test_programmes_are_clinic_x_category_with_tiers_and_valid_contract_tables(plan: WorldPlan) -> None:
    programs, episodes = validate_tables(*simulate_episodes(plan))
    assert set(programs["modality"]) == set(CATEGORIES)
    assert programs.groupby("site_id")["modality"].nunique().eq(len(CATEGORIES)).all()
    assert set(programs["tier"]) <= {"A", "B", "C"} and programs["tier"].nunique() >= 2
    world = _world(plan)
    quality = plan.programs["quality"].to_numpy()[world.rows[:, 0]]
    by_tier = pd.Series(quality).groupby(world.tier).mean()
    assert by_tier.is_monotonic_decreasing  # tier A (index 0) is the best run
    assert world.delivery.age_shift is not None and world.delivery.age_shift.std() > 2.0
    assert world.delivery.severity_shift.std() > 0.1
    # every programme has episodes booked to it, and a clinic's booked referrals add up to its arrivals
    assert set(episodes["program_id"]) == set(programs["program_id"])
    booked = plan.referrals[world.rows].sum(axis=1)
    np.testing.assert_array_equal(booked, world.referrals)


def test_each_category_acts_through_its_own_lever(truth: ClinicTruth) -> None:
    def rates(factors: tuple[float, float, float, float]) -> dict[str, float]:
        out = truth.clinic_outcomes(2, _spend(truth.plan, 2, factors))
        episodes = float(out["episodes"][0])
        return {"episodes": episodes, "ri": float(out["reliable_improvements"][0]) / episodes,
                "dropout": float(out["dropouts"][0]) / episodes, "ri_total": float(out["reliable_improvements"][0])}

    now = rates((1, 1, 1, 1))
    trained, teched, marketed = rates((1, 3, 1, 1)), rates((1, 1, 3, 1)), rates((1, 1, 1, 3))
    short, staffed = rates((0.5, 1, 1, 1)), rates((1.5, 1, 1, 1))
    # training: better outcomes per episode, no more episodes
    assert trained["episodes"] == pytest.approx(now["episodes"]) and trained["ri"] > now["ri"] + 0.01
    # technology: less dropout, no more episodes
    assert teched["episodes"] == pytest.approx(now["episodes"]) and teched["dropout"] < now["dropout"] - 0.01
    # marketing: more referrals and so more episodes, but the same staff spread thinner
    assert marketed["episodes"] > now["episodes"] * 1.03
    # staffing: short staff means fewer treated, longer waits and more dropout
    assert short["episodes"] < now["episodes"] < staffed["episodes"]
    assert short["dropout"] > now["dropout"] > staffed["dropout"]
    # every lever has diminishing returns
    more_training = rates((1, 5, 1, 1))
    assert more_training["ri_total"] - trained["ri_total"] < trained["ri_total"] - now["ri_total"]


def test_truth_matches_the_simulator_for_a_clinic(plan: WorldPlan, truth: ClinicTruth) -> None:
    """120,000 offered patients of clinics 0 and 3 at a changed spend on every category against the truth there."""
    world = _world(plan)
    for clinic in (0, 3):
        spend = _spend(plan, clinic, (1.2, 2.0, 0.5, 1.5))
        base = np.array([world.next_base_referrals[clinic]])
        cell = world.cells(np.array([clinic]), spend[1:2], spend[2:3], base)
        referrals = base * world.referral_lift(spend[3:4], base)
        kappa = courses_per_referral(spend[:1], referrals, cell.unit_cost, cell.standard_sessions)[0]
        n = 120_000
        drawn = treat_offered(np.random.default_rng(0), plan.preset, cell, np.zeros(n, dtype=np.int64),
                              np.full(n, kappa))
        names = np.array(list(plan.preset.instruments))[drawn["instrument"]]
        flags = derive_outcomes(pd.Series(names), pd.Series(drawn["baseline"]), pd.Series(drawn["final"]))
        out = {k: float(v[0]) for k, v in truth.clinic_outcomes(clinic, spend[None, :]).items()}
        assert flags["reliable_improvement"].mean() == pytest.approx(
            out["reliable_improvements"] / out["episodes"], abs=0.012)
        assert drawn["dropped_out"].mean() == pytest.approx(out["dropouts"] / out["episodes"], abs=0.012)
        assert drawn["sessions"].mean() == pytest.approx(out["cost"] / out["episodes"] / cell.unit_cost[0], rel=0.03)


def test_next_period_episodes_follow_the_truth_under_a_new_plan(plan: WorldPlan, truth: ClinicTruth) -> None:
    """Whole next periods drawn with every category changed: episode counts and reliable improvements booked to
    each clinic agree with the truth (referral arrival, marketing, reach and booking included)."""
    rng = np.random.default_rng(3)
    funding = plan.current_funding * rng.uniform(0.6, 1.6, plan.current_funding.size)
    expected = truth.expected_outcomes(dict(zip(truth.program_ids, funding.tolist(), strict=True)))
    draws = [simulate_next_period(plan, funding, replicate=r) for r in range(16)]
    # the mean of 16 draws lies within 4 standard errors of the expectation, give or take 2 % for the truth's
    # finite cohort (3,000 patients per clinic)
    for name, counts in (
            ("episodes", [len(d) for d in draws]),
            ("dropouts", [int(d["dropped_out"].sum()) for d in draws]),
            ("reliable_improvements", [int(derive_outcomes(d["instrument"], d["baseline_score"], d["final_score"])
                                           ["reliable_improvement"].sum()) for d in draws])):
        total = float(expected[name].sum())
        assert abs(np.mean(counts) - total) < 4 * np.std(counts) / np.sqrt(len(counts)) + 0.02 * total, name
    booked = pd.concat(draws).groupby("program_id").size() / len(draws)
    share = booked / booked.groupby(booked.index.str[:3]).transform("sum")
    truth_share = expected.set_index("program_id")["episodes"]
    truth_share = truth_share / truth_share.groupby(truth_share.index.str[:3]).transform("sum")
    assert (share - truth_share.loc[share.index]).abs().max() < 0.03


def test_oracle_is_feasible_and_beats_status_quo_and_random_plans(truth: ClinicTruth) -> None:
    current = truth.current_funding
    budget = float(sum(current.values()))
    bounds = {p: (0.7 * f, 1.3 * f) for p, f in current.items()}
    allocation, value = truth.oracle_allocation(budget, bounds, step=budget / 3000)
    assert sum(allocation.values()) == pytest.approx(budget, abs=1.0)
    assert all(bounds[p][0] - 1e-6 <= f <= bounds[p][1] + 1e-6 for p, f in allocation.items())
    assert value == pytest.approx(truth.value(allocation))
    assert value > truth.value(current)
    rng = np.random.default_rng(0)
    lows = np.array([bounds[p][0] for p in truth.program_ids])
    highs = np.array([bounds[p][1] for p in truth.program_ids])
    for _ in range(12):  # random feasible plans: a random point of the box, scaled onto the budget
        x = lows + rng.random(lows.size) * (highs - lows)
        for _ in range(50):
            gap = budget - x.sum()
            room = (highs - x) if gap > 0 else (x - lows)
            x = np.clip(x + gap * room / room.sum(), lows, highs)
        assert x.sum() == pytest.approx(budget, rel=1e-9)
        assert value >= truth.value(dict(zip(truth.program_ids, x.tolist(), strict=True)))
    with pytest.raises(ValueError, match="minimums add up to"):
        truth.oracle_allocation(budget * 0.5, bounds, step=budget / 3000)


def test_truth_file_rebuilds_the_clinic_world(tmp_path: Path, truth: ClinicTruth) -> None:
    truth.save(tmp_path)
    again = Truth.load(tmp_path)
    assert isinstance(again, ClinicTruth)
    assert again.value(truth.current_funding) == pytest.approx(truth.value(truth.current_funding))
