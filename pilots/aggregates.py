"""Programme x period aggregates: everything a pilot evaluation needs, and nothing patient-level.

The CLI computes them from validated contract tables; an HTTP client sends them directly (allocators see
aggregates only). Outcomes come from `features.outcomes`, never re-derived here: reliable improvement follows the
intention-to-treat rule (an episode without a final score is not improved), so the same count of reliable
improvements serves both views, over all episodes (ITT) and over episodes with a final score (completers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.outcomes import derive_outcomes, score_improvement

KEY = ("program_id", "period")
COUNT_COLUMNS = ("episodes", "completers", "reliable_improvements", "dropouts")
AGGREGATE_COLUMNS = (*KEY, "modality", "region", "funding", *COUNT_COLUMNS, "score_change_sum")
"""completers = episodes with a final score; score_change_sum = their summed improvement in score points."""


class PilotInputError(ValueError):
    """A pilot spec or aggregate table that cannot be evaluated; `field` names what to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def program_period_aggregates(programs: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """One row per programme-period of `programs` (validated contract tables), with its episode counts."""
    flags = derive_outcomes(episodes["instrument"], episodes["baseline_score"], episodes["final_score"])
    change = score_improvement(episodes["instrument"], episodes["baseline_score"], episodes["final_score"])
    per_episode = pd.DataFrame({
        "program_id": episodes["program_id"].astype(str).to_numpy(),
        "period": episodes["period"].astype(str).to_numpy(),
        "episodes": 1,
        "completers": (~np.isnan(change)).astype(np.int64),
        "reliable_improvements": flags["reliable_improvement"].to_numpy(dtype=bool).astype(np.int64),
        "dropouts": episodes["dropped_out"].to_numpy(dtype=bool).astype(np.int64),
        "score_change_sum": np.nan_to_num(change, nan=0.0),
    })
    counts = per_episode.groupby(list(KEY), sort=False).sum()
    frame = programs.assign(program_id=programs["program_id"].astype(str), period=programs["period"].astype(str))
    if "region" not in frame:
        frame = frame.assign(region="")
    out = frame[["program_id", "period", "modality", "region", "funding"]].join(counts, on=list(KEY))
    out[list(COUNT_COLUMNS)] = out[list(COUNT_COLUMNS)].fillna(0).astype(np.int64)
    out["score_change_sum"] = out["score_change_sum"].fillna(0.0).astype(float)
    out["funding"] = out["funding"].astype(float)
    out["region"] = out["region"].fillna("").astype(str)
    return out.sort_values(list(KEY), ignore_index=True)[list(AGGREGATE_COLUMNS)]


def check_aggregates(frame: pd.DataFrame) -> pd.DataFrame:
    """The aggregate table with its cross-row rules checked (the HTTP schema checks each row's own limits)."""
    missing = [c for c in AGGREGATE_COLUMNS if c not in frame]
    if missing:
        raise PilotInputError("aggregates", f"missing column(s) {missing}; expected {list(AGGREGATE_COLUMNS)}")
    duplicated = frame.duplicated(list(KEY), keep="first")
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise PilotInputError(f"aggregates[{row}]", f"programme {frame['program_id'].iloc[row]} appears more than "
                                                    f"once in period {frame['period'].iloc[row]}")
    rules = (("completers", "episodes"), ("dropouts", "episodes"), ("reliable_improvements", "completers"))
    for part, whole in rules:
        bad = np.flatnonzero(frame[part].to_numpy() > frame[whole].to_numpy())
        if bad.size:
            raise PilotInputError(f"aggregates[{int(bad[0])}].{part}", f"{part} cannot exceed {whole}")
    modalities = frame.groupby("program_id")["modality"].nunique()
    if (modalities > 1).any():
        raise PilotInputError("aggregates", f"programme {modalities[modalities > 1].index[0]} has more than one "
                                            "modality; a programme keeps one modality across periods")
    return frame.reset_index(drop=True)
