"""Contracts projected under a plan: the status quo's projection against the population's record, tiers, rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from features.contracts import measured, parse_contracts
from usecases.contract_projection import dropout_slopes, project_contract, retention_dropouts

RI = {"contract_id": "COM-PHQ", "payer": "Commercial A",
      "population": {"payer": "commercial", "instrument": "PHQ-9", "min_baseline": 10},
      "metric": "reliable_improvement", "target": 0.15,
      "tiers": [{"threshold": 0.15, "lump_sum": 20_000}, {"threshold": 0.5, "per_point": 2_000}],
      "penalty": {"below": 0.05, "lump_sum": 10_000}, "min_sample": 20}


def _contract(**change: Any) -> Any:
    return parse_contracts({"contracts": [{**RI, **change}]}).contracts[0]


def test_status_quo_projection_holds_the_populations_recent_record(trained: Any, small_world: Any) -> None:
    _, _, episodes = small_world
    contract = _contract()
    projection = project_contract(contract, trained[2], {}, episodes)
    recent = measured(contract, episodes).tail(4)
    record = float((recent["value"] * recent["n"]).sum() / recent["n"].sum())
    assert projection.lower <= record <= projection.upper
    assert 0 <= projection.lower <= projection.value <= projection.upper <= 1
    first, second = projection.tier_probabilities
    assert 0 <= second <= first <= 1 and 0 <= projection.probability_penalty <= 1
    assert projection.payment_p05 <= projection.payment_p95
    if second == 0:  # then the payment is the first tier's lump sum or the penalty: its mean follows the chances
        expected = 20_000 * first - 10_000 * projection.probability_penalty
        assert projection.expected_payment == pytest.approx(expected, abs=1e-6)


def test_a_minimum_sample_out_of_reach_pays_nothing_and_says_so(trained: Any, small_world: Any) -> None:
    _, _, episodes = small_world
    projection = project_contract(_contract(min_sample=1_000_000), trained[2], {}, episodes)
    assert projection.expected_payment == 0 and projection.payment_sd == 0
    assert any("below the contract's minimum" in note for note in projection.notes)


def test_more_money_for_every_programme_moves_the_projection_as_the_curves_do(trained: Any,
                                                                             small_world: Any) -> None:
    _, _, episodes = small_world
    bundle = trained[2]
    contract = _contract()
    richer = {p: 1.5 * s.current_funding for p, s in bundle.programs.items()}
    now, more = project_contract(contract, bundle, {}, episodes), project_contract(contract, bundle, richer, episodes)
    rates_now = [bundle.curve(p, [s.current_funding]).iloc[0] for p, s in bundle.programs.items()]
    rates_more = [bundle.curve(p, [1.5 * s.current_funding]).iloc[0] for p, s in bundle.programs.items()]
    direction = np.sign(sum(r.reliable_improvements / r.episodes for r in rates_more)
                        - sum(r.reliable_improvements / r.episodes for r in rates_now))
    assert np.sign(more.value - now.value) in (direction, 0)
    assert more.episodes > now.episodes  # more money treats more of the population


def test_a_population_with_no_episodes_is_refused_by_name(trained: Any, small_world: Any) -> None:
    _, _, episodes = small_world
    contract = _contract(population={"payer": "no-such-payer"})
    with pytest.raises(ValueError, match="contract 'COM-PHQ': no recent episode of its population"):
        project_contract(contract, trained[2], {}, episodes)


RETENTION = {"contract_id": "MCD-KEEP", "payer": "Medicaid", "population": {"payer": "medicaid"},
             "metric": "retention", "target": 0.3, "tiers": [{"threshold": 0.3, "lump_sum": 10_000}], "min_sample": 20}


def test_retention_follows_the_programmes_own_dropout_slope(trained: Any, small_world: Any) -> None:
    """The dropout model may not raise dropout with funding; a programme's periods can, and retention follows them."""
    _, _, episodes = small_world
    bundle = trained[2]
    contract = parse_contracts({"contracts": [RETENTION]}).contracts[0]
    program, state = next(iter(bundle.programs.items()))
    served = np.array([100.0, 100.0])
    funding = np.array([state.current_funding, 1.3 * state.current_funding])
    now = bundle.curve(program, [state.current_funding]).iloc[0]
    rising = retention_dropouts(bundle, program, funding, served, 0.5)
    assert rising[0] == pytest.approx(100 * now["dropouts"] / now["episodes"])  # the model's rate at current funding
    assert rising[1] > rising[0]
    assert retention_dropouts(bundle, program, funding, served, -0.5)[1] < rising[0]
    richer = {p: 1.3 * s.current_funding for p, s in bundle.programs.items()}
    up = dict.fromkeys(bundle.programs, 0.5)
    flat = dict.fromkeys(bundle.programs, 0.0)
    assert project_contract(contract, bundle, {}, episodes, slopes=up).value == pytest.approx(
        project_contract(contract, bundle, {}, episodes, slopes=flat).value)
    assert project_contract(contract, bundle, richer, episodes, slopes=up).value < \
        project_contract(contract, bundle, richer, episodes, slopes=flat).value
    assert set(dropout_slopes(bundle)) == set(bundle.programs)
    assert all(np.isfinite(v) for v in dropout_slopes(bundle).values())


def _bundle_with(trained: Any, small_world: Any, model_spread: float, referral_variance: float) -> Any:
    """The small world's bundle with its curves' bands made by another model spread and referral estimate error."""
    from dataclasses import replace

    from models.bundle import make_bundle
    from models.intervals import UNCALIBRATED

    suite, forecaster, _ = trained
    _, programs, episodes = small_world
    states = {p: replace(s, referral_variance=referral_variance) for p, s in forecaster.programs.items()}
    return make_bundle(replace(forecaster, programs=states, intervals=replace(UNCALIBRATED, model_spread=model_spread)),
                       suite, programs, episodes)


def test_a_rate_carries_the_model_spread_and_not_the_referral_error(trained: Any, small_world: Any) -> None:
    """More referrals raise improvements and episodes together: what the referral estimate misses by widens the
    count bands, not a rate."""
    _, _, episodes = small_world
    contract = _contract()
    calm, swinging, unsure = (_bundle_with(trained, small_world, m, r) for m, r in ((0.1, 0.0025), (0.1, 0.36),
                                                                                     (0.3, 0.0025)))
    program = next(iter(calm.programs))
    now = calm.programs[program].current_funding

    def width(bundle: Any) -> float:
        row = bundle.curve(program, [now]).iloc[0]
        return float(row["reliable_improvements_upper"] - row["reliable_improvements_lower"])

    assert width(swinging) > 2 * width(calm)  # the counts' band does carry the referral error
    base, swung, worse = (project_contract(contract, b, {}, episodes) for b in (calm, swinging, unsure))
    # within 2 %: a count band that wide is clipped at zero, which takes a little off its half-width
    assert swung.metric_sd == pytest.approx(base.metric_sd, rel=0.02)
    assert (swung.lower, swung.upper) == pytest.approx((base.lower, base.upper), abs=2e-3)
    assert worse.metric_sd > 1.5 * base.metric_sd  # the model's own spread still widens it
