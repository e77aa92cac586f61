"""The recommendation's chance of beating the status quo is the number the per-programme loop gave."""

from __future__ import annotations

import math

import numpy as np
import pytest

from allocation.curves import OutcomeCurve
from usecases import confidence
from usecases.confidence import BEAT_STATUS_QUO_DRAWS, probability_beats_status_quo


def loop_probability(curves: list[OutcomeCurve], plan: dict[str, float], seed: int) -> float:
    """The first implementation: one np.interp per value and one draw of the shocks per programme."""
    rng = np.random.default_rng(seed)
    diff = np.zeros(BEAT_STATUS_QUO_DRAWS)
    for curve in curves:
        values = {}
        for name, money in (("plan", plan[curve.program_id]), ("now", curve.current_funding)):
            mid = curve.value("reliable_improvements", money)
            low = curve.value("reliable_improvements_lower", money)
            high = curve.value("reliable_improvements_upper", money)
            sigma = max(math.log(max(high, 1e-9) / max(low, 1e-9)) / (2 * 1.645), 1e-6)
            values[name] = (mid, sigma)
        shock = rng.standard_normal(BEAT_STATUS_QUO_DRAWS)
        diff += (values["plan"][0] * np.exp(values["plan"][1] * shock)
                 - values["now"][0] * np.exp(values["now"][1] * shock))
    return float((diff > 0).mean())


def curve(rng: np.random.Generator, pid: str) -> OutcomeCurve:
    current = float(rng.uniform(5e4, 1.5e5))
    funding = np.linspace(0.0, 2.0 * current, int(rng.integers(5, 30)))
    ri = 40.0 / (1.0 + np.exp(-(funding - current) / float(rng.uniform(1e4, 6e4))))
    spread = float(rng.uniform(0.05, 0.6))
    return OutcomeCurve(pid, funding, {"reliable_improvements": ri, "reliable_improvements_lower": ri * (1 - spread),
                                       "reliable_improvements_upper": ri * (1 + spread)},
                        current_funding=current, observed_min=0.7 * current, observed_max=1.3 * current)


@pytest.mark.parametrize("kept", [True, False], ids=["draws-kept", "drawn-in-blocks"])
@pytest.mark.parametrize(("programmes", "seed"), [(1, 0), (12, 0), (64, 1), (65, 0), (300, 2)])
def test_probability_is_the_per_programme_loops(programmes: int, seed: int, kept: bool,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Sizes around the draw blocks, plans better and worse than now, both with the draws kept in memory and,
    as for more programmes than are kept (`_CACHED_PROGRAMMES`), drawn a block at a time."""
    if not kept:
        monkeypatch.setattr(confidence, "_CACHED_PROGRAMMES", 0)
    rng = np.random.default_rng(programmes)
    curves = [curve(rng, f"p{i:03d}") for i in range(programmes)]
    for scale in (0.98, 1.0, 1.02):
        plan = {c.program_id: c.current_funding * scale * float(rng.uniform(0.8, 1.2)) for c in curves}
        plan[curves[0].program_id] = curves[0].current_funding
        assert probability_beats_status_quo(curves, plan, seed) == loop_probability(curves, plan, seed)


def test_probability_is_strictly_between_for_a_mixed_plan() -> None:
    """Guards the comparison above against trivially passing with 0 or 1 everywhere."""
    rng = np.random.default_rng(3)
    curves = [curve(rng, f"p{i}") for i in range(20)]
    plan = {c.program_id: c.current_funding * (1.1 if i % 2 else 0.9) for i, c in enumerate(curves)}
    assert 0.0 < probability_beats_status_quo(curves, plan) < 1.0
