"""Programme outcome curves: expected reliable improvements, dropouts, episodes and cost at any funding level.

For programme p at next-period funding F:
    episodes(F)              = referrals_next[p] * reach_p(F)
    reliable_improvements(F) = episodes(F) * mean over p's recent patient mix of P(reliable improvement | F)
    dropouts(F)              = episodes(F) * mean of P(dropout | F)
The patient mix is the programme's most recent episodes, moved to the next period; funding enters only through
`features.build.funding_features`, the same function that built the training columns.

Intervals are split-conformal and normalised by the expected count (`models.intervals`): the expected band
(`reliable_improvements_lower/upper`, what decisions use) and the band for the realised count
(`reliable_improvements_realised_lower/upper`), both clipped to 0 .. referrals and wider outside the programme's
observed funding range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.build import (
    FUNDING_FEATURES,
    episode_features,
    funding_features,
    next_period,
    period_outcomes,
    program_history,
)
from models.classifier import FundingAwareClassifier
from models.intervals import (
    UNCALIBRATED,
    IntervalCalibration,
    bands,
    cut_distance,
    demand_spread,
    estimate_parts,
    extrapolation_distance,
)
from models.reach import ReachModel

QALY_PER_RELIABLE_IMPROVEMENT = 0.075
"""QALYs gained per reliable improvement: midpoint of 0.05-0.10 per recovery (CoBalT 0.057/12 months; [D])."""
COHORT_SIZE = 200


@dataclass(frozen=True)
class ProgramState:
    """What is known of a programme for the next period; aggregates only, no patient rows."""

    program_id: str
    modality: str
    groups: dict[str, str]
    current_funding: float
    next_referrals: float
    prior_mean_funding_per_referral: float
    observed_min: float
    observed_max: float
    referral_variance: float = 0.0
    """Squared relative error of the referral estimate its history implies (`models.intervals.estimate_parts`)."""
    rate_variance: float = 0.0
    """Squared relative error of the rate per referral its counted improvements imply (likewise)."""

    @property
    def estimate_variance(self) -> float:
        """What the programme's history size alone says about its expected count's relative error, squared."""
        return self.referral_variance + self.rate_variance


@dataclass
class Forecaster:
    response: FundingAwareClassifier
    dropout: FundingAwareClassifier
    reach: ReachModel
    programs: dict[str, ProgramState]
    cohorts: dict[str, pd.DataFrame] = field(repr=False)
    intervals: IntervalCalibration = UNCALIBRATED
    """Conformal calibration from held-out programme-periods (`models.conformal_cells`); training sets it."""

    def curve(self, program_id: str, funding: np.ndarray) -> pd.DataFrame:
        state = self.programs[program_id]
        cohort = self.cohorts[program_id]
        funding = np.asarray(funding, dtype=float)
        levels = len(funding)
        rows = pd.concat([cohort] * levels, ignore_index=True)
        level_funding = funding_features(
            np.repeat(funding, len(cohort)), np.full(levels * len(cohort), state.next_referrals),
            np.full(levels * len(cohort), state.prior_mean_funding_per_referral))
        for col in FUNDING_FEATURES:
            rows[col] = level_funding[col].to_numpy()
        p_ri = self.response.predict_proba(rows)[:, 1].reshape(levels, len(cohort)).mean(axis=1)
        p_drop = self.dropout.predict_proba(rows)[:, 1].reshape(levels, len(cohort)).mean(axis=1)
        reach_in = pd.DataFrame({"program_id": program_id, "modality": state.modality,
                                 "log_funding_per_referral": level_funding["log_funding_per_referral"]
                                 .to_numpy()[:: len(cohort)]})
        episodes = state.next_referrals * self.reach.predict(reach_in)
        ri = episodes * p_ri
        outside = extrapolation_distance(funding, state.observed_min, state.observed_max)
        band = bands(ri, state.next_referrals, outside, self.intervals, state.estimate_variance,
                     cut_distance(funding, state.observed_min))
        return pd.DataFrame({
            "program_id": program_id, "funding": funding, "episodes": episodes,
            "reliable_improvements": ri,
            "reliable_improvements_lower": band["expected_lower"],
            "reliable_improvements_upper": band["expected_upper"],
            "reliable_improvements_realised_lower": band["realised_lower"],
            "reliable_improvements_realised_upper": band["realised_upper"],
            "dropouts": episodes * p_drop,
            "qalys": ri * QALY_PER_RELIABLE_IMPROVEMENT,
            "cost": funding,
            "outside_observed_range": outside > 0,
        })


def build_forecaster(programs: pd.DataFrame, episodes: pd.DataFrame, response: FundingAwareClassifier,
                     dropout: FundingAwareClassifier, reach: ReachModel, *, recent_periods: int = 2,
                     referral_periods: int = 4, seed: int = 0, outcomes: pd.DataFrame | None = None) -> Forecaster:
    """States and patient-mix cohorts for the period after the last one in `programs`.

    With `outcomes` (per programme-period sums, `features.build.period_outcomes`) the history comes from them and
    `episodes` need only hold a sample of the recent periods, enough for the cohorts: how a distributed engine
    builds the same forecaster without bringing every episode to one machine.
    """
    periods = sorted(programs["period"].unique())
    upcoming = next_period(periods[-1])
    outcomes = period_outcomes(episodes) if outcomes is None else outcomes
    history = program_history(programs, outcomes=outcomes)
    last = history[history["period"] == periods[-1]].set_index("program_id")
    recent_refs = history[history["period"].isin(periods[-referral_periods:])].groupby("program_id")["referrals"]
    swing = demand_spread(history)
    improvements = history.groupby("program_id")["ri"].sum()
    group_cols = [c for c in ("region", "site_id") if c in programs.columns]
    latest = programs[programs["period"] == periods[-1]].set_index("program_id")

    states: dict[str, ProgramState] = {}
    next_rows = []
    for pid in sorted(last.index):
        fpr = history.loc[history["program_id"] == pid, "funding_per_referral"]
        funding_seen = history.loc[history["program_id"] == pid, "funding"]
        states[pid] = ProgramState(
            program_id=pid, modality=str(latest.loc[pid, "modality"]),
            groups={"modality": str(latest.loc[pid, "modality"]),
                    **{c: str(latest.loc[pid, c]) for c in group_cols if pd.notna(latest.loc[pid, c])}},
            current_funding=float(last.loc[pid, "funding"]), next_referrals=float(recent_refs.mean()[pid]),
            prior_mean_funding_per_referral=float(fpr.mean()),
            observed_min=float(funding_seen.min()), observed_max=float(funding_seen.max()),
            **dict(zip(("referral_variance", "rate_variance"), estimate_parts(
                float(recent_refs.mean()[pid]), int(recent_refs.size()[pid]), float(improvements[pid]), swing),
                strict=True)),
        )
        next_rows.append({"program_id": pid, "period": upcoming, "modality": states[pid].modality,
                          "funding": states[pid].current_funding, "referrals": states[pid].next_referrals,
                          **{c: latest.loc[pid, c] for c in group_cols}})
    extended = pd.concat([programs, pd.DataFrame(next_rows)], ignore_index=True)
    next_history = program_history(extended, outcomes=outcomes)

    rng = np.random.default_rng(seed)
    recent = episodes[episodes["period"].isin(periods[-recent_periods:])]
    cohorts: dict[str, pd.DataFrame] = {}
    for pid, group in recent.groupby("program_id"):
        take = group if len(group) <= COHORT_SIZE else group.iloc[np.sort(rng.choice(len(group), COHORT_SIZE, False))]
        moved = take.assign(period=upcoming)
        cohorts[str(pid)] = episode_features(extended, moved, history=next_history).reset_index(drop=True)
    missing = sorted(set(states) - set(cohorts))
    if missing:
        raise ValueError(f"programme(s) {missing} have no episodes in the last {recent_periods} periods: "
                         "their patient mix is unknown")
    return Forecaster(response, dropout, reach, states, cohorts)
