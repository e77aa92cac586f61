"""KPIs per programme-period: counts, intention-to-treat denominators and intervals against independent references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from features.kpi import KPI_NAMES, programme_kpis, wilson
from features.outcomes import derive_outcomes


def _episodes(rows: list[tuple[str, str, float, float | None, bool, float | None]]) -> pd.DataFrame:
    return pd.DataFrame({
        "program_id": [r[0] for r in rows], "period": "2024Q1", "instrument": [r[1] for r in rows],
        "baseline_score": [r[2] for r in rows], "final_score": pd.array([r[3] for r in rows], dtype="Float64"),
        "dropped_out": [r[4] for r in rows], "satisfaction": pd.array([r[5] for r in rows], dtype="Float64"),
    })


def _get(kpis: pd.DataFrame, program: str, kpi: str) -> pd.Series:
    return kpis[(kpis.program_id == program) & (kpis.kpi == kpi)].iloc[0]


def test_rates_are_intention_to_treat_and_recovery_counts_caseness_only() -> None:
    episodes = _episodes([
        ("A", "PHQ-9", 18, 6, False, 10),    # reliable improvement, recovery (18 >= 10 -> 6 < 10)
        ("A", "PHQ-9", 18, None, True, None),  # dropped out, no final: not improved (ITT)
        ("A", "PHQ-9", 8, 2, False, 9),      # reliable improvement, not at caseness: outside the recovery base
        ("A", "PHQ-9", 15, 14, False, 3),    # no change
    ])
    programs = pd.DataFrame({"program_id": ["A", "B"], "period": "2024Q1", "funding": [40_000.0, 10_000.0],
                             "referrals": [8, 5]})
    kpis = programme_kpis(programs, episodes)
    assert set(kpis.kpi) == set(KPI_NAMES)
    ri = _get(kpis, "A", "reliable_improvement_rate")
    assert ri.value == pytest.approx(2 / 4) and ri.n == 4
    recovery = _get(kpis, "A", "recovery_rate")
    assert recovery.value == pytest.approx(1 / 3) and recovery.n == 3
    assert _get(kpis, "A", "dropout_rate").value == pytest.approx(1 / 4)
    assert _get(kpis, "A", "reach").value == pytest.approx(4 / 8)
    assert _get(kpis, "A", "cost_per_reliable_improvement").value == pytest.approx(20_000)
    assert _get(kpis, "A", "mean_change").value == pytest.approx((12 + 6 + 1) / 3)
    assert _get(kpis, "A", "nps").value == pytest.approx((100 + 100 - 100) / 3)
    nothing = _get(kpis, "B", "reliable_improvement_rate")  # funded but treated nobody: a row, not a gap
    assert nothing.n == 0 and np.isnan(nothing.value) and _get(kpis, "B", "episodes").value == 0


def test_wilson_intervals_match_scipy() -> None:
    successes, n = np.array([0, 1, 7, 40, 50]), np.array([10, 3, 20, 41, 50])
    lower, upper = wilson(successes, n)
    for s, m, lo, hi in zip(successes, n, lower, upper, strict=True):
        reference = binomtest(int(s), int(m)).proportion_ci(confidence_level=0.95, method="wilson")
        assert (lo, hi) == pytest.approx((reference.low, reference.high), abs=1e-12)


def test_cost_interval_brackets_the_cost_and_is_unbounded_with_no_outcome() -> None:
    episodes = _episodes([("A", "PHQ-9", 18, 6, False, None)] + [("A", "PHQ-9", 18, 17, False, None)] * 9
                         + [("B", "PHQ-9", 18, 17, False, None)] * 5)
    programs = pd.DataFrame({"program_id": ["A", "B"], "period": "2024Q1", "funding": [10_000.0, 10_000.0]})
    kpis = programme_kpis(programs, episodes)
    a = _get(kpis, "A", "cost_per_reliable_improvement")
    assert a.value == pytest.approx(10_000) and a.lower < a.value < a.upper
    b = _get(kpis, "B", "cost_per_reliable_improvement")
    assert np.isnan(b.value) and np.isinf(b.upper)
    assert np.isnan(_get(kpis, "A", "reach").value)  # no referrals given: reach is not guessed


def test_simulated_world_counts_add_up(small_world: tuple) -> None:
    _, programs, episodes = small_world
    kpis = programme_kpis(programs, episodes)
    counts = kpis[kpis.kpi == "episodes"]
    assert len(counts) == len(programs) and counts.value.sum() == len(episodes)
    rates = kpis[kpis.kpi == "reliable_improvement_rate"].set_index(["program_id", "period"]).value
    flags = derive_outcomes(episodes["instrument"], episodes["baseline_score"], episodes["final_score"])
    expected = (flags["reliable_improvement"].fillna(False).astype(bool)
                .groupby([episodes["program_id"].astype(str), episodes["period"].astype(str)]).mean())
    pd.testing.assert_series_equal(rates.loc[expected.index], expected, check_names=False)
    bounded = kpis[kpis.kpi.str.endswith("_rate") & (kpis.n > 0)]
    assert ((bounded.lower <= bounded.value) & (bounded.value <= bounded.upper)).all()
