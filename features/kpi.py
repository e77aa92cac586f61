"""Outcome KPIs per programme and period, each with the count it rests on and a 95 % interval.

These are the figures an outcomes-management review compares quarter by quarter (NHS Talking Therapies reporting):
rates are intention to treat over every episode that started (an episode without a final score did not improve),
recovery and reliable recovery over the episodes at caseness at intake (the IAPT denominator), costs per outcome
from the period's funding. A figure resting on few episodes must look uncertain, so every one carries an interval:
Wilson score intervals for rates (they stay inside [0, 1] and keep their coverage at small counts, where the normal
approximation does not), normal intervals for means, and cost intervals from the count's interval.

Satisfaction is the contract's 0-10 scale; NPS reads it as the standard likelihood-to-recommend question
(promoters 9-10, detractors 0-6), in points from -100 to 100.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from features.outcomes import derive_outcomes, score_improvement

Z95 = float(norm.ppf(0.975))


@dataclass(frozen=True)
class Kpi:
    """One KPI: its name, unit and the episodes its denominator counts."""

    name: str
    unit: str
    denominator: str


KPIS: tuple[Kpi, ...] = (
    Kpi("episodes", "episodes", "episodes started in the period"),
    Kpi("funding", "money", "the period's spend (the plan it is scored against needs it)"),
    Kpi("reach", "share", "referrals (treated / referred; absent where referrals are not given)"),
    Kpi("reliable_improvement_rate", "share", "episodes started (intention to treat)"),
    Kpi("recovery_rate", "share", "episodes at caseness at intake"),
    Kpi("reliable_recovery_rate", "share", "episodes at caseness at intake"),
    Kpi("response_rate", "share", "episodes started (intention to treat)"),
    Kpi("dropout_rate", "share", "episodes started"),
    Kpi("mean_change", "score points", "episodes with a final score, the period's main instrument only"),
    Kpi("cost_per_reliable_improvement", "money", "reliable improvements"),
    Kpi("cost_per_recovery", "money", "recoveries"),
    Kpi("satisfaction", "0-10", "episodes with a satisfaction score"),
    Kpi("nps", "points", "episodes with a satisfaction score"),
)
KPI_NAMES = tuple(k.name for k in KPIS)


def wilson(successes: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """95 % Wilson score interval per row (NaN where n is 0). Vectorised: scipy's `binomtest` takes one count a call."""
    s = np.asarray(successes, dtype=float)
    m = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = s / m
        centre = (p + Z95**2 / (2 * m)) / (1 + Z95**2 / m)
        half = Z95 * np.sqrt(p * (1 - p) / m + Z95**2 / (4 * m**2)) / (1 + Z95**2 / m)
    # exactly 0 (1) at no (all) successes, which rounding in centre - half would miss by 1e-17
    lower = np.where(m > 0, np.where(s <= 0, 0.0, np.clip(centre - half, 0.0, 1.0)), np.nan)
    upper = np.where(m > 0, np.where(s >= m, 1.0, np.clip(centre + half, 0.0, 1.0)), np.nan)
    return lower, upper


def _mean_interval(mean: np.ndarray, sd: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    with np.errstate(invalid="ignore", divide="ignore"):
        half = np.where(n > 1, Z95 * sd / np.sqrt(n), np.nan)
    return mean - half, mean + half


def programme_kpis(programs: pd.DataFrame, episodes: pd.DataFrame) -> pd.DataFrame:
    """Long table: program_id, period, kpi, value, lower, upper, n (the denominator's count).

    Every programme-period of `programs` appears, also one without episodes (its rates are then NaN with n = 0):
    a programme that treated nobody is a finding, not a gap.
    """
    flags = derive_outcomes(episodes["instrument"], episodes["baseline_score"], episodes["final_score"])
    change = score_improvement(episodes["instrument"], episodes["baseline_score"], episodes["final_score"])
    frame = pd.DataFrame({
        "program_id": episodes["program_id"].astype(str).to_numpy(),
        "period": episodes["period"].astype(str).to_numpy(),
        "instrument": episodes["instrument"].astype(str).to_numpy(),
        "ri": flags["reliable_improvement"].fillna(False).to_numpy(dtype=bool),
        "resp": flags["response"].fillna(False).to_numpy(dtype=bool),
        "rec_n": flags["recovery"].notna().to_numpy(dtype=bool),
        "rec": flags["recovery"].fillna(False).to_numpy(dtype=bool),
        "rrec": flags["reliable_recovery"].fillna(False).to_numpy(dtype=bool),
        "drop": episodes["dropped_out"].fillna(False).to_numpy(dtype=bool),
        "change": change,
    })
    if "satisfaction" in episodes.columns:
        sat = episodes["satisfaction"].to_numpy(dtype=float, na_value=np.nan)
    else:
        sat = np.full(len(episodes), np.nan)
    frame["sat"] = sat
    frame["nps_score"] = np.where(np.isnan(sat), np.nan, np.where(sat >= 9, 100.0, np.where(sat <= 6, -100.0, 0.0)))

    key = ["program_id", "period"]
    main = (frame.groupby([*key, "instrument"]).size().rename("k").reset_index()
            .sort_values([*key, "k", "instrument"], ascending=[True, True, False, True])
            .drop_duplicates(key)[[*key, "instrument"]])
    on_main = frame.merge(main, on=[*key, "instrument"], how="inner")
    grouped = frame.groupby(key)
    per = pd.DataFrame({
        "n": grouped.size(),
        "ri": grouped["ri"].sum(), "resp": grouped["resp"].sum(), "drop": grouped["drop"].sum(),
        "rec_n": grouped["rec_n"].sum(), "rec": grouped["rec"].sum(), "rrec": grouped["rrec"].sum(),
        "sat_n": grouped["sat"].count(), "sat_mean": grouped["sat"].mean(), "sat_sd": grouped["sat"].std(),
        "nps_mean": grouped["nps_score"].mean(), "nps_sd": grouped["nps_score"].std(),
    })
    changes = on_main.groupby(key)["change"]
    per = per.join(pd.DataFrame({"chg_n": changes.count(), "chg_mean": changes.mean(), "chg_sd": changes.std()}))

    base = programs[["program_id", "period", "funding"]].astype({"program_id": str, "period": str}).copy()
    base["referrals"] = (programs["referrals"].to_numpy(dtype=float, na_value=np.nan)
                         if "referrals" in programs.columns else np.nan)
    table = base.merge(per.reset_index(), on=key, how="left")
    counts = ["n", "ri", "resp", "drop", "rec_n", "rec", "rrec", "sat_n", "chg_n"]
    table[counts] = table[counts].fillna(0.0)

    def col(name: str) -> np.ndarray:
        return table[name].to_numpy(dtype=float)

    n, funding, referrals = col("n"), col("funding"), col("referrals")
    rows: list[pd.DataFrame] = []

    def add(kpi: str, value: np.ndarray, lower: np.ndarray, upper: np.ndarray, count: np.ndarray) -> None:
        rows.append(pd.DataFrame({"program_id": table["program_id"], "period": table["period"], "kpi": kpi,
                                  "value": value, "lower": lower, "upper": upper, "n": count.astype(np.int64)}))

    def rate(kpi: str, successes: np.ndarray, denominator: np.ndarray) -> None:
        lower, upper = wilson(successes, denominator)
        with np.errstate(invalid="ignore", divide="ignore"):
            add(kpi, np.where(denominator > 0, successes / denominator, np.nan), lower, upper, denominator)

    def cost(kpi: str, successes: np.ndarray, denominator: np.ndarray) -> None:
        lower, upper = wilson(successes, denominator)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = np.where(successes > 0, funding / successes, np.nan)
            # more outcomes -> cheaper: the count's upper bound gives the cost's lower bound
            cheap = np.where(upper > 0, funding / (upper * denominator), np.nan)
            dear = np.where(lower > 0, funding / (lower * denominator), np.inf)
        add(kpi, value, np.where(denominator > 0, cheap, np.nan), np.where(denominator > 0, dear, np.nan),
            successes)

    add("episodes", n, n, n, n)
    add("funding", funding, funding, funding, n)
    known = ~np.isnan(referrals) & (referrals > 0)
    reach_lo, reach_hi = wilson(np.minimum(n, np.where(known, referrals, 0)), np.where(known, referrals, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        add("reach", np.where(known, n / referrals, np.nan), reach_lo, reach_hi, np.where(known, referrals, 0))
    rate("reliable_improvement_rate", col("ri"), n)
    rate("recovery_rate", col("rec"), col("rec_n"))
    rate("reliable_recovery_rate", col("rrec"), col("rec_n"))
    rate("response_rate", col("resp"), n)
    rate("dropout_rate", col("drop"), n)
    lower, upper = _mean_interval(col("chg_mean"), col("chg_sd"), col("chg_n"))
    add("mean_change", col("chg_mean"), lower, upper, col("chg_n"))
    cost("cost_per_reliable_improvement", col("ri"), n)
    cost("cost_per_recovery", col("rec"), col("rec_n"))
    lower, upper = _mean_interval(col("sat_mean"), col("sat_sd"), col("sat_n"))
    add("satisfaction", col("sat_mean"), np.clip(lower, 0, 10), np.clip(upper, 0, 10), col("sat_n"))
    lower, upper = _mean_interval(col("nps_mean"), col("nps_sd"), col("sat_n"))
    add("nps", col("nps_mean"), np.clip(lower, -100, 100), np.clip(upper, -100, 100), col("sat_n"))
    return pd.concat(rows, ignore_index=True)
