"""Clinical outcomes of an episode, derived from its instrument, baseline and final score.

Definitions follow NHS Talking Therapies (IAPT) and the measure sources in `features.instruments`:
- reliable improvement: the score moved in the better direction by at least the reliable-change threshold;
- reliable deterioration: moved in the worse direction by at least that threshold;
- response: at least a 50 % reduction of the distance to the best possible score;
- remission: final score strictly better than the instrument's remission cut-off;
- recovery: at caseness at baseline and not at caseness at the end (only defined for episodes that started at
  caseness, the IAPT denominator: NA otherwise, and NA for instruments with no caseness cut-off);
- reliable recovery: recovery and reliable improvement.

An episode without a final score counts as not improved (intention to treat): every flag is False, except the
ones that are not applicable (NA). Flags are pandas nullable booleans so "not applicable" is never confused with
"did not happen".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.instruments import INSTRUMENTS

OUTCOME_COLUMNS = (
    "reliable_improvement",
    "reliable_deterioration",
    "response",
    "remission",
    "recovery",
    "reliable_recovery",
)


def _instrument_table(names: pd.Series) -> dict[str, np.ndarray]:
    """Per-row instrument parameters as arrays, so every derivation below is vectorised."""
    codes, uniques = pd.factorize(names)
    unknown = [u for u in uniques if u not in INSTRUMENTS]
    if unknown:
        raise KeyError(f"unknown instrument(s) {unknown}; registered: {sorted(INSTRUMENTS)}")
    inst = [INSTRUMENTS[u] for u in uniques]

    def column(values: list[float]) -> np.ndarray:
        return np.asarray(values, dtype=float)[codes]

    nan = float("nan")
    return {
        "min": column([i.min_score for i in inst]),
        "max": column([i.max_score for i in inst]),
        "lower_better": np.asarray([i.direction == "lower_is_better" for i in inst])[codes],
        "rc": column([i.reliable_change for i in inst]),
        "caseness": column([nan if i.caseness is None else i.caseness for i in inst]),
        "remission": column([nan if i.remission is None else i.remission for i in inst]),
    }


def _improvement(p: dict[str, np.ndarray], b: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Score points moved in the better direction (positive = better); NaN where there is no final score."""
    return np.where(p["lower_better"], 1.0, -1.0) * (b - f)


def score_improvement(instrument: pd.Series, baseline: pd.Series, final: pd.Series) -> np.ndarray:
    """Each episode's score change in the instrument's better direction, in its own points (NaN: no final)."""
    return _improvement(_instrument_table(instrument), baseline.to_numpy(dtype=float, na_value=np.nan),
                        final.to_numpy(dtype=float, na_value=np.nan))


def derive_outcomes(instrument: pd.Series, baseline: pd.Series, final: pd.Series) -> pd.DataFrame:
    """Outcome flags for each episode (same index as the inputs)."""
    p = _instrument_table(instrument)
    b = baseline.to_numpy(dtype=float, na_value=np.nan)
    f = final.to_numpy(dtype=float, na_value=np.nan)
    lower = p["lower_better"]
    has_final = ~np.isnan(f)
    improvement = np.where(has_final, _improvement(p, b, f), 0.0)  # positive = better, in score points
    best = np.where(lower, p["min"], p["max"])
    room = np.abs(b - best)

    reliable_improvement = has_final & (improvement >= p["rc"])
    reliable_deterioration = has_final & (-improvement >= p["rc"])
    response = has_final & (improvement > 0) & (improvement >= 0.5 * room)

    has_remission = ~np.isnan(p["remission"])
    remission_met = has_final & np.where(lower, f < p["remission"], f > p["remission"])

    has_caseness = ~np.isnan(p["caseness"])
    case_at_start = np.where(lower, b >= p["caseness"], b <= p["caseness"])
    case_at_end = np.where(lower, f >= p["caseness"], f <= p["caseness"])
    recovery_applicable = has_caseness & case_at_start
    recovered = has_final & ~case_at_end

    def nullable(values: np.ndarray, applicable: np.ndarray | None = None) -> pd.arrays.BooleanArray:
        mask = np.zeros(len(values), dtype=bool) if applicable is None else ~applicable
        return pd.arrays.BooleanArray(values.astype(bool), mask)

    return pd.DataFrame(
        {
            "reliable_improvement": nullable(reliable_improvement),
            "reliable_deterioration": nullable(reliable_deterioration),
            "response": nullable(response),
            "remission": nullable(remission_met, has_remission),
            "recovery": nullable(recovered, recovery_applicable),
            "reliable_recovery": nullable(recovered & reliable_improvement, recovery_applicable),
        },
        index=instrument.index,
    )
