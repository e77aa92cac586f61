"""Objectives move money in the expected direction on constructed cases."""

from __future__ import annotations

import numpy as np
import pytest

from allocation.constraints import Constraints
from allocation.curves import OutcomeCurve
from allocation.objectives import Objective
from allocation.solver import optimize


def _curve(pid: str, gain: float, dropout_cut: float, band: float) -> OutcomeCurve:
    funding = np.linspace(0.0, 200_000.0, 21)
    ri = gain * (1 - np.exp(-funding / 100_000.0))
    return OutcomeCurve(
        program_id=pid,
        funding=funding,
        metrics={
            "reliable_improvements": ri,
            "reliable_improvements_lower": ri * (1 - band),
            "reliable_improvements_upper": ri * (1 + band),
            "dropouts": 50.0 - dropout_cut * (1 - np.exp(-funding / 100_000.0)),
        },
        current_funding=100_000.0,
        observed_min=50_000.0,
        observed_max=150_000.0,
    )


@pytest.fixture
def pair() -> list[OutcomeCurve]:
    """A: more improvements, wide uncertainty, no effect on dropouts. B: fewer, certain, cuts dropouts."""
    return [_curve("A", 40.0, 0.0, 0.7), _curve("B", 30.0, 30.0, 0.05)]


def test_weighting_dropouts_moves_money_to_the_programme_that_avoids_them(pair: list[OutcomeCurve]) -> None:
    constraints = Constraints(budget=200_000.0)
    plain = optimize(pair, constraints)
    weighted = optimize(
        pair, constraints, Objective(kind="weighted", weights={"reliable_improvements": 1.0, "dropouts": 2.0})
    )
    assert plain.allocation["A"] > plain.allocation["B"]
    assert weighted.allocation["B"] > plain.allocation["B"] + 10_000.0
    assert weighted.totals["plan"]["dropouts"] < plain.totals["plan"]["dropouts"]


def test_risk_averse_prefers_the_certain_programme(pair: list[OutcomeCurve]) -> None:
    constraints = Constraints(budget=200_000.0)
    plain = optimize(pair, constraints)
    cautious = optimize(pair, constraints, Objective(kind="risk_averse"))
    assert cautious.allocation["B"] > plain.allocation["B"] + 10_000.0
    assert cautious.totals["plan"]["reliable_improvements_lower"] > plain.totals["plan"]["reliable_improvements_lower"]
    assert cautious.totals["plan"]["reliable_improvements"] <= plain.totals["plan"]["reliable_improvements"] + 1e-9


def test_objective_validation(pair: list[OutcomeCurve]) -> None:
    with pytest.raises(ValueError, match=r"unknown metric 'happiness'.*allowed: reliable_improvements"):
        Objective(kind="weighted", weights={"happiness": 1.0})
    with pytest.raises(ValueError, match="at least one non-zero weight"):
        Objective(kind="weighted")
    with pytest.raises(ValueError, match="needs metric\\(s\\) qalys but programme A"):
        optimize(pair, Constraints(budget=200_000.0), Objective(kind="weighted", weights={"qalys": 1.0}))
