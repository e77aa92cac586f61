"""Events a quarterly review must catch, injected into a simulated quarter with the truth of where they are.

Each event changes the contract tables the way it would reach a real department's files, from one period on:
- quality drop: a programme's therapy stops working for part of its patients (final scores of a share of its
  improving episodes fall back towards baseline), as when experienced staff leave;
- case-mix shift: a new payer contract brings more patients of one payer, more severe at intake;
- referral surge: referrals to a programme double (a school campaign, a closed neighbour service);
- data-entry fault: a programme's final scores are missing for the period (an export that dropped a column).
The list of injected events is the answer key: which programme (or "all" for case mix), which kind, since when.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.instruments import INSTRUMENTS

KINDS = ("quality_drop", "case_mix_shift", "referral_surge", "data_entry_fault")
DETECTED_BY = {"quality_drop": "outcome_shift", "case_mix_shift": "input_drift",
               "referral_surge": "referral_volume", "data_entry_fault": "outcome_shift"}
"""The alert kind a review raises for each event (the benchmark's answer key)."""


@dataclass(frozen=True)
class Event:
    kind: str
    program_id: str
    """The programme it hits; "all" for a case-mix shift, which reaches every programme's intake."""
    period: str


def inject(programs: pd.DataFrame, episodes: pd.DataFrame, events: list[Event], seed: int
           ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Copies of the tables with `events` applied from their period on (the tables given are not changed)."""
    rng = np.random.default_rng([seed, 19])
    programs, episodes = programs.copy(), episodes.copy()
    episodes["final_score"] = episodes["final_score"].astype("Float64")
    for event in events:
        if event.kind not in KINDS:
            raise ValueError(f"unknown event kind {event.kind!r}; expected one of {KINDS}")
        from_now = (episodes["period"].astype(str) >= event.period).to_numpy()
        hit = from_now & ((episodes["program_id"] == event.program_id).to_numpy() if event.program_id != "all"
                          else np.ones(len(episodes), dtype=bool))
        if event.kind == "quality_drop":
            _quality_drop(episodes, hit, rng)
        elif event.kind == "case_mix_shift":
            _case_mix_shift(episodes, hit, rng)
        elif event.kind == "referral_surge":
            rows = ((programs["program_id"] == event.program_id) & (programs["period"].astype(str) >= event.period))
            programs.loc[rows, "referrals"] = programs.loc[rows, "referrals"] * 2
        else:
            episodes.loc[hit, "final_score"] = pd.NA
    return programs, episodes


def _quality_drop(episodes: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, share: float = 0.6) -> None:
    """`share` of the hit episodes keep only a fifth of their improvement (dropouts unchanged)."""
    baseline = episodes["baseline_score"].to_numpy(dtype=float)
    final = episodes["final_score"].to_numpy(dtype=float, na_value=np.nan)
    chosen = hit & ~np.isnan(final) & (rng.random(len(episodes)) < share)
    moved = baseline[chosen] + 0.2 * (final[chosen] - baseline[chosen])
    episodes.loc[chosen, "final_score"] = np.round(moved)


def _case_mix_shift(episodes: pd.DataFrame, hit: np.ndarray, rng: np.random.Generator, share: float = 0.4) -> None:
    """`share` of intakes switch to the least common payer and start 20 % of the scale more severe (capped)."""
    payers = episodes["payer"].value_counts()
    chosen = hit & (rng.random(len(episodes)) < share)
    episodes.loc[chosen, "payer"] = payers.index[-1]
    instruments = episodes.loc[chosen, "instrument"].astype(str)
    top = instruments.map({k: v.max_score for k, v in INSTRUMENTS.items()}).to_numpy(dtype=float)
    bottom = instruments.map({k: v.min_score for k, v in INSTRUMENTS.items()}).to_numpy(dtype=float)
    lower_better = instruments.map({k: v.direction == "lower_is_better" for k, v in INSTRUMENTS.items()}).to_numpy()
    step = 0.2 * (top - bottom) * np.where(lower_better, 1.0, -1.0)
    baseline = episodes.loc[chosen, "baseline_score"].to_numpy(dtype=float)
    shifted = np.clip(np.round(baseline + step), bottom, top)
    final = episodes.loc[chosen, "final_score"].to_numpy(dtype=float, na_value=np.nan)
    episodes.loc[chosen, "baseline_score"] = shifted
    # the final score moves with the intake so the episode's own change (and its outcome) stays as it was
    episodes.loc[chosen, "final_score"] = pd.array(np.where(np.isnan(final), np.nan,
                                                            np.clip(final + (shifted - baseline), bottom, top)),
                                                   dtype="Float64")
