"""The one feature function: validated tables in, model-ready episode and programme-period features out.

Training and serving both call `episode_features` / `program_period_features`; serving builds what-if funding
levels with `funding_features`, the same code path that produced the training columns.

Leakage rules, each covered by a test:
- history features of a programme-period use only strictly earlier periods of that programme;
- an episode's own outcome columns (final_score, dropped_out, sessions_attended, satisfaction) are never read
  for its own features.

Identification (ARCHITECTURE.md): historical funding follows programme quality, so the features carry the
programme's identity (`program_id`, a categorical fixed effect) and the funding level relative to the programme's
own history (`funding_vs_history`); monotone constraints in `models/` are declared on FUNDING_FEATURES.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.instruments import INSTRUMENTS
from features.outcomes import derive_outcomes

FUNDING_FEATURES = ("log_funding_per_referral", "funding_vs_history")
HISTORY_FEATURES = ("prior_reliable_improvement_rate", "prior_dropout_rate", "prior_reach", "prior_periods")
PROGRAM_CATEGORICALS = ("program_id", "modality", "region")
PATIENT_CATEGORICALS = ("instrument", "sex", "payer", "diagnosis")
PATIENT_NUMERIC = ("baseline_severity", "baseline_score", "at_caseness", "age", "deprivation_decile")
EPISODE_FEATURES = (*PROGRAM_CATEGORICALS, *PATIENT_CATEGORICALS, *PATIENT_NUMERIC, *FUNDING_FEATURES,
                    *HISTORY_FEATURES)
PROGRAM_FEATURES = (*PROGRAM_CATEGORICALS, *FUNDING_FEATURES, *HISTORY_FEATURES, "log_referrals")
CATEGORICAL_FEATURES = (*PROGRAM_CATEGORICALS, *PATIENT_CATEGORICALS)


def period_outcomes(episodes: pd.DataFrame) -> pd.DataFrame:
    """Episodes, reliable improvements and dropouts per programme-period: all the history features need of episodes.

    Sums, so the outcomes of a dataset split into parts are the sums of the parts' outcomes: a distributed
    engine computes them per partition and adds them up, then hands them to the same history code as here.
    """
    outcomes = derive_outcomes(episodes["instrument"], episodes["baseline_score"], episodes["final_score"])
    per_episode = pd.DataFrame({
        "program_id": episodes["program_id"].astype(str).to_numpy(),
        "period": episodes["period"].astype(str).to_numpy(),
        "ri": outcomes["reliable_improvement"].to_numpy(dtype=float),
        "dropped": episodes["dropped_out"].to_numpy(dtype=float, na_value=np.nan),
    })
    stats = per_episode.groupby(["program_id", "period"]).agg(n=("ri", "size"), ri=("ri", "sum"),
                                                              dropped=("dropped", "sum"))
    return stats.astype(float).reset_index()


def demand(programs: pd.DataFrame, episodes: pd.DataFrame | None = None, *,
           outcomes: pd.DataFrame | None = None) -> pd.Series:
    """Referrals per programme-period; where the column is absent or empty, the busiest period's episode count.

    The fallback assumes a programme reached (nearly) everyone in its busiest period: reach is then relative to
    that, which keeps funding per referral comparable within a programme, the variation the models rely on.
    Episode counts come from `outcomes` (see `period_outcomes`) when given, else from `episodes`.
    """
    stats = _outcomes_of(episodes, outcomes)
    counts = stats.set_index(["program_id", "period"])["n"]
    key = pd.MultiIndex.from_frame(programs[["program_id", "period"]].astype(str))
    observed = counts.reindex(key, fill_value=0).to_numpy(dtype=float)
    busiest = pd.Series(observed, index=key).groupby(level="program_id").transform("max").to_numpy()
    if "referrals" in programs.columns:
        given = programs["referrals"].to_numpy(dtype=float, na_value=np.nan)
    else:
        given = np.full(len(programs), np.nan)
    return pd.Series(np.where(np.isnan(given), np.maximum(busiest, 1.0), np.maximum(given, 1.0)),
                     index=programs.index, name="referrals")


def _outcomes_of(episodes: pd.DataFrame | None, outcomes: pd.DataFrame | None) -> pd.DataFrame:
    if outcomes is not None:
        return outcomes
    if episodes is None:
        raise ValueError("need either the episodes or their per-period outcomes")
    return period_outcomes(episodes)


def program_history(programs: pd.DataFrame, episodes: pd.DataFrame | None = None, *,
                    outcomes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per programme-period: funding, demand, and outcome rates of strictly earlier periods only.

    Pass `outcomes` (from `period_outcomes`, possibly summed over partitions) instead of `episodes` when the
    episodes are too many for one machine: the result is the same.
    """
    stats = _outcomes_of(episodes, outcomes).set_index(["program_id", "period"])
    table = programs[["program_id", "period", "funding"]].copy()
    table["referrals"] = demand(programs, outcomes=stats.reset_index())
    table = table.join(stats[["n", "ri", "dropped"]], on=["program_id", "period"]).fillna(
        {"n": 0, "ri": 0, "dropped": 0})
    table = table.sort_values(["program_id", "period"])
    table["funding_per_referral"] = table["funding"] / table["referrals"]

    earlier = table.groupby("program_id", sort=False)
    def previous_sum(col: str) -> pd.Series:
        return earlier[col].cumsum() - table[col]

    n_before = previous_sum("n")
    table["prior_reliable_improvement_rate"] = previous_sum("ri") / n_before.where(n_before > 0)
    table["prior_dropout_rate"] = previous_sum("dropped") / n_before.where(n_before > 0)
    table["prior_reach"] = n_before / previous_sum("referrals").where(n_before > 0)
    table["prior_periods"] = earlier.cumcount().astype(float)
    table["prior_mean_funding_per_referral"] = (previous_sum("funding_per_referral")
                                                / table["prior_periods"].where(table["prior_periods"] > 0))
    return table.sort_index()


def funding_features(funding: np.ndarray | pd.Series, referrals: np.ndarray | pd.Series,
                     prior_mean_funding_per_referral: np.ndarray | pd.Series) -> pd.DataFrame:
    """Funding columns for given money and demand; serving calls this for every what-if funding level."""
    return pd.DataFrame(funding_columns(funding, referrals, prior_mean_funding_per_referral))


def funding_columns(funding: np.ndarray | pd.Series, referrals: np.ndarray | pd.Series,
                    prior_mean_funding_per_referral: np.ndarray | pd.Series) -> dict[str, np.ndarray]:
    """`funding_features` as plain arrays (episode features take them per programme-period, then per episode)."""
    per_referral = np.asarray(funding, float) / np.maximum(np.asarray(referrals, float), 1.0)
    prior = np.asarray(prior_mean_funding_per_referral, float)
    return {
        "log_funding_per_referral": np.log1p(per_referral),
        "funding_vs_history": np.log1p(per_referral) - np.log1p(prior),
    }


def program_period_features(programs: pd.DataFrame, episodes: pd.DataFrame | None = None, *,
                            outcomes: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per programme-period (aligned with `programs`), for the reach model; target columns included."""
    history = program_history(programs, episodes, outcomes=outcomes)
    frame = history[["program_id", "period", "funding", "referrals", *HISTORY_FEATURES]].copy()
    frame["modality"] = programs["modality"].to_numpy()
    frame["region"] = _text_or_missing(programs, "region", len(programs))
    frame[list(FUNDING_FEATURES)] = funding_features(
        history["funding"], history["referrals"], history["prior_mean_funding_per_referral"]).to_numpy()
    frame["log_referrals"] = np.log1p(history["referrals"])
    frame["episodes"] = history["n"].to_numpy()
    frame["reach"] = history["n"] / history["referrals"]
    return _categoricals(frame)


EpisodeColumns = pd.DataFrame | Mapping[str, Any]
"""Episodes column-wise: a DataFrame, or column name -> array (serving builds one from a request's bodies)."""


@dataclass(frozen=True)
class ProgramPeriods:
    """Programme-period rows keyed by (program_id, period), with everything an episode takes from its row.

    Built once from the programs table and its history, then every episode is a dict look-up and an array take.
    Why: serving scores a few episodes at a time against thousands of stored programme-periods, and indexing
    those tables anew on every call (a MultiIndex each for programmes, history and the episodes) cost far more
    than the features themselves; the bundle keeps one of these per loaded model instead.
    """

    rows: dict[tuple[Any, Any], int]
    modality: np.ndarray
    numbers: dict[str, np.ndarray]
    """FUNDING_FEATURES and HISTORY_FEATURES per programme-period row (NaN where the history has no row)."""

    @classmethod
    def of(cls, programs: pd.DataFrame, history: pd.DataFrame) -> ProgramPeriods:
        keys = list(zip(programs["program_id"].to_numpy(dtype=object), programs["period"].to_numpy(dtype=object),
                        strict=True))
        known = dict(zip(zip(history["program_id"].to_numpy(dtype=object), history["period"].to_numpy(dtype=object),
                             strict=True), range(len(history)), strict=True))
        take = np.array([known.get(key, -1) for key in keys], dtype=np.intp)

        def column(name: str) -> np.ndarray:
            values = np.append(history[name].to_numpy(dtype=float, na_value=np.nan), np.nan)
            return values[take]  # -1 picks the appended NaN

        funding = funding_columns(column("funding"), column("referrals"), column("prior_mean_funding_per_referral"))
        return cls(rows={key: i for i, key in enumerate(keys)}, modality=programs["modality"].to_numpy(dtype=object),
                   numbers={**funding, **{name: column(name) for name in HISTORY_FEATURES}})

    def locate(self, program_id: np.ndarray, period: np.ndarray) -> np.ndarray:
        """Row of each episode's programme-period; KeyError naming one example when any is not in the table."""
        at = np.fromiter((self.rows.get(key, -1) for key in zip(program_id, period, strict=True)), dtype=np.intp,
                         count=len(program_id))
        missing = at < 0
        if missing.any():
            first = int(np.flatnonzero(missing)[0])
            raise KeyError(f"{int(missing.sum())} episode(s) point at programme-periods not in the programs table, "
                           f"e.g. {[program_id[first], period[first]]}")
        return at


def episode_features(programs: pd.DataFrame, episodes: pd.DataFrame,
                     history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Model-ready features per episode (same index as `episodes`), in EPISODE_FEATURES order.

    `history` defaults to `program_history(programs, episodes)`; serving passes the history of the stored data
    so that scored episodes (which have no outcomes) need not be part of it.
    """
    history = program_history(programs, episodes) if history is None else history
    return feature_frame(episode_columns(episodes, ProgramPeriods.of(programs, history)), episodes.index)


def episode_columns(episodes: EpisodeColumns, periods: ProgramPeriods) -> dict[str, np.ndarray]:
    """The features of `episode_features` as plain arrays (EPISODE_FEATURES order; text or None in categorical
    columns): the one computation behind both it and serving, which scores from these arrays directly because
    a pandas frame with categoricals costs more to build than a handful of episodes take to score."""
    program_id = np.asarray(episodes["program_id"], dtype=object)
    at = periods.locate(program_id, np.asarray(episodes["period"], dtype=object))
    count = len(program_id)
    baseline = np.asarray(episodes["baseline_score"], dtype=float)
    instrument = np.array(episodes["instrument"], dtype=object)
    instrument[pd.isna(instrument)] = None  # pd.NA == name would not be a plain bool
    severity, caseness = _baseline_severity(instrument, baseline)
    out: dict[str, np.ndarray] = {
        "program_id": program_id,
        "modality": periods.modality[at],
        "region": _text_or_missing(episodes, "region", count),
        **{col: _text_or_missing(episodes, col, count) for col in PATIENT_CATEGORICALS},
        "baseline_severity": severity,
        "baseline_score": baseline,
        "at_caseness": caseness,
        "age": _numeric_or_missing(episodes, "age", count),
        "deprivation_decile": _numeric_or_missing(episodes, "deprivation_decile", count),
        **{col: periods.numbers[col][at] for col in (*FUNDING_FEATURES, *HISTORY_FEATURES)},
    }
    return {col: out[col] for col in EPISODE_FEATURES}


def feature_frame(columns: Mapping[str, np.ndarray], index: pd.Index | None = None) -> pd.DataFrame:
    """The frame training fits on: `episode_columns` with the categorical columns as pandas categoricals."""
    return _categoricals(pd.DataFrame({col: columns[col] for col in EPISODE_FEATURES}, index=index))


def _baseline_severity(instrument: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Baseline on a common 0 (best) .. 1 (worst) scale, and caseness (NaN where the instrument has none)."""
    severity = np.full(len(values), np.nan)
    caseness = np.full(len(values), np.nan)
    for name, inst in INSTRUMENTS.items():
        rows = instrument == name
        if rows.any():
            frac = (values[rows] - inst.min_score) / inst.span
            severity[rows] = frac if inst.direction == "lower_is_better" else 1.0 - frac
            if inst.caseness is not None:
                case = values[rows] >= inst.caseness if inst.direction == "lower_is_better" else (
                    values[rows] <= inst.caseness)
                caseness[rows] = case.astype(float)
    return severity, caseness


def _text_or_missing(episodes: EpisodeColumns, column: str, count: int) -> np.ndarray:
    """The column as text, None where missing or absent (category levels are always text)."""
    out = np.full(count, None, dtype=object)
    if column in episodes:
        values = np.asarray(episodes[column], dtype=object)
        present = ~pd.isna(values)
        out[present] = values[present].astype(str)
    return out


def _numeric_or_missing(episodes: EpisodeColumns, column: str, count: int) -> np.ndarray:
    if column in episodes:
        return np.asarray(pd.to_numeric(episodes[column], errors="coerce"), dtype=float)
    return np.full(count, np.nan)


def _categoricals(frame: pd.DataFrame) -> pd.DataFrame:
    for col in CATEGORICAL_FEATURES:
        if col in frame.columns:
            frame[col] = pd.Categorical(frame[col])
    return frame


def next_period(label: str) -> str:
    """The period after `label` in the same form: 2025-Q4 -> 2026-Q1, 2025-12 -> 2026-01."""
    year, rest = int(label[:4]), label[5:]
    if rest.startswith("Q"):
        quarter = int(rest[1:]) + 1
        return f"{year + quarter // 5}-Q{(quarter - 1) % 4 + 1}"
    month = int(rest) + 1
    return f"{year + month // 13}-{(month - 1) % 12 + 1:02d}"
