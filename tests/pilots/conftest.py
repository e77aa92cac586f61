"""Pilot fixtures: tiny inline aggregate tables with answers that can be checked by hand."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest


def aggregate_rows(rates: dict[str, tuple[float, ...]], episodes: int = 100, modality: str = "individual_cbt",
                   first_year: int = 2025) -> pd.DataFrame:
    """Aggregates with the given ITT reliable-improvement rate per programme and quarter (same episodes each)."""
    rows = []
    for program, series in rates.items():
        for q, rate in enumerate(series):
            improved = round(rate * episodes)
            rows.append({"program_id": program, "period": f"{first_year + q // 4}-Q{q % 4 + 1}",
                         "modality": modality, "region": "urban", "funding": 1000.0 * (q + 1),
                         "episodes": episodes, "completers": min(episodes, improved + episodes // 4),
                         "reliable_improvements": improved, "dropouts": episodes // 3,
                         "score_change_sum": 3.0 * improved})
    return pd.DataFrame(rows)


@pytest.fixture
def hand_frame() -> pd.DataFrame:
    """Pilots A, B change by +0.20 and +0.16; controls C, D by +0.04 and +0.06: DiD = 0.18 - 0.05 = 0.13."""
    return aggregate_rows({"A": (0.20, 0.40), "B": (0.30, 0.46), "C": (0.20, 0.24), "D": (0.30, 0.36)})


@pytest.fixture
def make_rows() -> Callable[..., pd.DataFrame]:
    return aggregate_rows
