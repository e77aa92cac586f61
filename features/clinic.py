"""Clinic features: a clinic's budget categories as one spend vector, for the joint clinic model.

In a clinic network each clinic x category is a programme (docs/CONTRACT.md), but the categories act together on
the clinic's patients, and episodes and referrals are booked to a clinic's categories in proportion to their spend.
A programme's own rows then say nothing a clinic's do not: its booked referrals move with its spend share, so its
funding per referral is the clinic's total per referral whatever the category. The joint model therefore reads
clinics: per clinic-period the spend of each category, the clinic's referrals and outcomes (sums over its
programmes, which booking cannot change), and per episode the patient columns of the one feature function
(`features.build.episode_columns`) with the clinic's spend vector in place of the programme's funding.

`clinic_spend_columns` is the one function that turns a spend vector into model columns: training calls it on the
recorded clinic-periods, forecasting on every what-if spend vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.build import (
    PATIENT_CATEGORICALS,
    PATIENT_NUMERIC,
    ProgramPeriods,
    episode_columns,
    funding_columns,
    period_outcomes,
    program_history,
)

CLINIC_CATEGORICALS = ("clinic", "region", *PATIENT_CATEGORICALS)


def spend_feature_names(categories: Sequence[str]) -> tuple[str, ...]:
    """Per category: log(1 + spend per referral) and its change against the clinic's own history."""
    return (*(f"log_{c}_per_referral" for c in categories), *(f"{c}_vs_history" for c in categories))


@dataclass(frozen=True)
class ClinicPeriods:
    """One row per clinic-period: `spend` (rows x categories), referrals, episodes and reliable improvements,
    and each category's mean spend per referral over the clinic's strictly earlier periods."""

    table: pd.DataFrame
    """clinic, period, referrals, n, ri, region."""
    categories: tuple[str, ...]
    spend: np.ndarray
    prior_per_referral: np.ndarray


def clinic_of(programs: pd.DataFrame, clinic_column: str) -> pd.Series:
    """Each programme's clinic; refuses a programme whose clinic is missing or that changes clinic."""
    if clinic_column not in programs.columns:
        raise ValueError(f"programs: clinic column {clinic_column!r} is not in the table")
    pairs = programs[["program_id", clinic_column]].drop_duplicates()
    if pairs[clinic_column].isna().any() or pairs["program_id"].duplicated().any():
        raise ValueError(f"programs: every programme needs one {clinic_column!r} in every period")
    return pairs.set_index("program_id")[clinic_column].astype(str)


def clinic_periods(programs: pd.DataFrame, clinic_column: str, episodes: pd.DataFrame | None = None, *,
                   outcomes: pd.DataFrame | None = None) -> ClinicPeriods:
    """Clinic-period sums of the programs table (categories = the `modality` values, one programme each)."""
    clinic = clinic_of(programs, clinic_column)
    history = program_history(programs, episodes, outcomes=outcomes)
    history = history.assign(clinic=clinic.reindex(history["program_id"].astype(str)).to_numpy(),
                             modality=programs.set_index(["program_id", "period"])["modality"].reindex(
                                 pd.MultiIndex.from_frame(history[["program_id", "period"]])).to_numpy())
    repeated = history.duplicated(["clinic", "period", "modality"])
    if repeated.any():
        row = history[repeated].iloc[0]
        raise ValueError(f"clinic {row['clinic']} has two programmes of category {row['modality']!r}")
    categories = tuple(sorted(history["modality"].astype(str).unique()))
    spend = history.pivot_table(index=["clinic", "period"], columns="modality", values="funding",
                                aggfunc="sum", fill_value=0.0).reindex(columns=list(categories), fill_value=0.0)
    sums = history.groupby(["clinic", "period"])[["referrals", "n", "ri"]].sum().reindex(spend.index)
    located = programs.assign(clinic=clinic.reindex(programs["program_id"].astype(str)).to_numpy())
    region = (located.groupby("clinic")["region"].first() if "region" in located.columns
              else pd.Series(dtype=object))
    table = sums.reset_index()
    table["region"] = region.reindex(table["clinic"]).to_numpy()
    per_referral = spend.to_numpy(float) / np.maximum(table["referrals"].to_numpy(float), 1.0)[:, None]
    earlier = pd.DataFrame(per_referral, index=table["clinic"]).groupby(level=0)
    count = earlier.cumcount().to_numpy(float)[:, None]
    previous = earlier.cumsum().to_numpy() - per_referral
    prior = np.where(count > 0, previous / np.maximum(count, 1.0), per_referral)
    return ClinicPeriods(table=table, categories=categories, spend=spend.to_numpy(float), prior_per_referral=prior)


def clinic_spend_columns(spend: np.ndarray, referrals: np.ndarray, prior_per_referral: np.ndarray,
                         categories: Sequence[str]) -> dict[str, np.ndarray]:
    """Model columns of spend vectors (rows x categories) at given referrals; what-if forecasts call it too.
    Each category's pair is the programme funding columns (`features.build.funding_columns`) of its spend."""
    spend, prior = np.asarray(spend, float), np.asarray(prior_per_referral, float)
    names = spend_feature_names(categories)
    k = len(categories)
    per_category = [funding_columns(np.maximum(spend[:, j], 0.0), referrals, prior[:, j]) for j in range(k)]
    return {**{names[j]: per_category[j]["log_funding_per_referral"] for j in range(k)},
            **{names[k + j]: per_category[j]["funding_vs_history"] for j in range(k)}}


def clinic_episode_columns(programs: pd.DataFrame, episodes: pd.DataFrame, clinic_column: str,
                           periods: ClinicPeriods) -> dict[str, np.ndarray]:
    """Per episode: the patient columns of `episode_columns`, its clinic and region, and the clinic-period's
    spend columns (`clinic_spend_columns`). The programme an episode was booked to is not a feature: booking
    by spend share makes it a draw, not a fact about the patient."""
    history = program_history(programs, outcomes=period_outcomes(episodes))
    patient = episode_columns(episodes, ProgramPeriods.of(programs, history))
    clinic = clinic_of(programs, clinic_column).reindex(episodes["program_id"].astype(str)).to_numpy(dtype=object)
    key = pd.MultiIndex.from_arrays([periods.table["clinic"], periods.table["period"].astype(str)])
    at = pd.Index(key).get_indexer(pd.MultiIndex.from_arrays([clinic, episodes["period"].astype(str)]))
    if (at < 0).any():
        raise KeyError("episodes point at clinic-periods not in the programs table")
    spend = clinic_spend_columns(periods.spend[at], periods.table["referrals"].to_numpy(float)[at],
                                 periods.prior_per_referral[at], periods.categories)
    return {"clinic": clinic, "region": periods.table["region"].to_numpy(dtype=object)[at],
            **{c: patient[c] for c in (*PATIENT_CATEGORICALS, *PATIENT_NUMERIC)}, **spend}


def clinic_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The frame the clinic model fits on: categorical columns as pandas categoricals."""
    frame = pd.DataFrame(columns)
    for col in CLINIC_CATEGORICALS:
        frame[col] = pd.Categorical(frame[col])
    return frame


__all__ = ["CLINIC_CATEGORICALS", "ClinicPeriods", "clinic_episode_columns", "clinic_frame", "clinic_of",
           "clinic_periods", "clinic_spend_columns", "spend_feature_names"]
