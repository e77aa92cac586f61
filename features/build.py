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
    per_referral = np.asarray(funding, float) / np.maximum(np.asarray(referrals, float), 1.0)
    prior = np.asarray(prior_mean_funding_per_referral, float)
    return pd.DataFrame({
        "log_funding_per_referral": np.log1p(per_referral),
        "funding_vs_history": np.log1p(per_referral) - np.log1p(prior),
    })


def program_period_features(programs: pd.DataFrame, episodes: pd.DataFrame | None = None, *,
                            outcomes: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per programme-period (aligned with `programs`), for the reach model; target columns included."""
    history = program_history(programs, episodes, outcomes=outcomes)
    frame = history[["program_id", "period", "funding", "referrals", *HISTORY_FEATURES]].copy()
    frame["modality"] = programs["modality"].to_numpy()
    frame["region"] = _column_or_missing(programs, "region")
    frame[list(FUNDING_FEATURES)] = funding_features(
        history["funding"], history["referrals"], history["prior_mean_funding_per_referral"]).to_numpy()
    frame["log_referrals"] = np.log1p(history["referrals"])
    frame["episodes"] = history["n"].to_numpy()
    frame["reach"] = history["n"] / history["referrals"]
    return _categoricals(frame)


def episode_features(programs: pd.DataFrame, episodes: pd.DataFrame,
                     history: pd.DataFrame | None = None) -> pd.DataFrame:
    """Model-ready features per episode (same index as `episodes`), in EPISODE_FEATURES order.

    `history` defaults to `program_history(programs, episodes)`; serving passes the history of the stored data
    so that scored episodes (which have no outcomes) need not be part of it.
    """
    history = program_history(programs, episodes) if history is None else history
    keyed = history.set_index(["program_id", "period"])
    prog = programs.set_index(["program_id", "period"])
    key = pd.MultiIndex.from_frame(episodes[["program_id", "period"]])
    missing = ~key.isin(prog.index)
    if missing.any():
        first = episodes.loc[missing, ["program_id", "period"]].iloc[0].tolist()
        raise KeyError(f"{int(missing.sum())} episode(s) point at programme-periods not in the programs table, "
                       f"e.g. {first}")
    rows = keyed.reindex(key)
    out = pd.DataFrame(index=episodes.index)
    out["program_id"] = episodes["program_id"].to_numpy()
    out["modality"] = prog["modality"].reindex(key).to_numpy()
    out["region"] = _column_or_missing(episodes, "region")
    for col in PATIENT_CATEGORICALS:
        out[col] = _column_or_missing(episodes, col)
    out["baseline_score"] = episodes["baseline_score"].to_numpy(dtype=float)
    severity, caseness = _baseline_severity(episodes["instrument"], out["baseline_score"])
    out["baseline_severity"] = severity
    out["at_caseness"] = caseness
    out["age"] = _numeric_or_missing(episodes, "age")
    out["deprivation_decile"] = _numeric_or_missing(episodes, "deprivation_decile")
    funding = funding_features(rows["funding"], rows["referrals"], rows["prior_mean_funding_per_referral"])
    for col in FUNDING_FEATURES:
        out[col] = funding[col].to_numpy()
    for col in HISTORY_FEATURES:
        out[col] = rows[col].to_numpy(dtype=float)
    return _categoricals(out[list(EPISODE_FEATURES)])


def _baseline_severity(instrument: pd.Series, baseline: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Baseline on a common 0 (best) .. 1 (worst) scale, and caseness (NaN where the instrument has none)."""
    severity = np.full(len(baseline), np.nan)
    caseness = np.full(len(baseline), np.nan)
    values = baseline.to_numpy(dtype=float)
    for name, inst in INSTRUMENTS.items():
        rows = (instrument == name).to_numpy(na_value=False)
        if rows.any():
            frac = (values[rows] - inst.min_score) / inst.span
            severity[rows] = frac if inst.direction == "lower_is_better" else 1.0 - frac
            if inst.caseness is not None:
                case = values[rows] >= inst.caseness if inst.direction == "lower_is_better" else (
                    values[rows] <= inst.caseness)
                caseness[rows] = case.astype(float)
    return severity, caseness


def _column_or_missing(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column in frame.columns:
        return frame[column].astype("str").where(frame[column].notna()).to_numpy(dtype=object)
    return np.full(len(frame), None, dtype=object)


def _numeric_or_missing(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column in frame.columns:
        return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.full(len(frame), np.nan)


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
