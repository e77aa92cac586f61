"""Choosing control programmes automatically: the nearest non-piloted programmes on what predicts their course.

A control should look like its pilot before the change: same kind of care (modality), same region, a similar
pre-period reliable-improvement rate and a similar size. Each piloted programme, in the order given, takes its
`per_pilot` nearest programmes not yet taken (matching without replacement, so no control counts twice).
Programmes of the same modality always come first (another modality only when none is left); among them the
distance is 1 for a different region plus the absolute differences of the standardised pre-period rate and log
episodes (standardised over all candidate and piloted programmes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

REGION_PENALTY = 1.0


@dataclass(frozen=True)
class Match:
    pilot: str
    control: str
    distance: float


def match_controls(profile: pd.DataFrame, pilots: list[str], candidates: list[str], per_pilot: int) -> list[Match]:
    """`profile`: one row per programme (index program_id) with modality, region, pre_rate, pre_episodes."""
    involved = profile.loc[[*pilots, *candidates]]
    rate = _standardised(involved["pre_rate"].to_numpy(dtype=float))
    size = _standardised(np.log1p(involved["pre_episodes"].to_numpy(dtype=float)))
    position = {p: i for i, p in enumerate(involved.index)}
    modality, region = involved["modality"].to_numpy(), involved["region"].to_numpy()
    free = list(candidates)
    matches: list[Match] = []
    for pilot in pilots:
        i = position[pilot]
        scored = sorted(
            (bool(modality[position[c]] != modality[i]),
             REGION_PENALTY * (region[position[c]] != region[i])
             + abs(rate[position[c]] - rate[i]) + abs(size[position[c]] - size[i]), c) for c in free)
        for _, distance, control in scored[:per_pilot]:
            matches.append(Match(pilot, control, float(distance)))
            free.remove(control)
    return matches


def _standardised(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)
