"""What moved in a new quarter: case mix, instruments, payer mix and referral volume against the data a model learned
from, and programmes whose outcomes left their own history.

Each statistic needs both a size and a significance before it alerts. The size is the population stability index
(PSI, the credit-scoring convention: below 0.1 stable, 0.1-0.25 a shift worth a look, above 0.25 a shift that
changes a model's inputs) or the rate difference in points; the significance is scipy's chi-square or two-proportion
test at 1 %. With 50,000 episodes a quarter every difference is "significant", and with 30 every size is noise:
asking for both keeps alerts to the shifts a reviewer should act on. scipy does this in a few lines; Evidently would
bring a dashboard stack for the same statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, norm

from features.instruments import INSTRUMENTS

PSI_ALERT = 0.1
P_ALERT = 0.01
RATE_ALERT = 0.05
"""Smallest change of an outcome rate (5 points) worth a programme review; smaller moves are within a quarter's
ordinary variation for programmes of a few hundred episodes."""
VOLUME_ALERT = 0.5
"""Referrals 50 % above or below the programme's recent mean: capacity and waits change at that size."""
CATEGORICAL = {"instrument": "instruments", "payer": "payer mix", "diagnosis": "diagnosis mix", "sex": "sex mix",
               "region": "region mix"}
NUMERIC = {"age": "age", "severity": "severity at intake (share of the instrument's range)"}


@dataclass(frozen=True)
class Alert:
    """One finding of a review, phrased for the person who acts on it."""

    kind: str
    """'input_drift', 'referral_volume', 'outcome_shift' or 'calibration_drift'."""
    subject: str
    what_moved: str
    size: float
    statistic: str
    since: str
    action: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.what_moved} ({self.statistic} {self.size:.3g}) since {self.since}; {self.action}"


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins (empty bins floored at 0.5 counts)."""
    ref = np.maximum(np.asarray(reference, dtype=float), 0.5)
    cur = np.maximum(np.asarray(current, dtype=float), 0.5)
    r, c = ref / ref.sum(), cur / cur.sum()
    return float(np.sum((c - r) * np.log(c / r)))


def _severity(episodes: pd.DataFrame) -> np.ndarray:
    lows = episodes["instrument"].map({k: v.min_score for k, v in INSTRUMENTS.items()}).to_numpy(dtype=float)
    highs = episodes["instrument"].map({k: v.max_score for k, v in INSTRUMENTS.items()}).to_numpy(dtype=float)
    baseline = episodes["baseline_score"].to_numpy(dtype=float, na_value=np.nan)
    return (baseline - lows) / (highs - lows)


def _counts(reference: pd.Series, current: pd.Series) -> tuple[np.ndarray, np.ndarray, list[str]]:
    ref = reference.astype("string").fillna("(not recorded)")
    cur = current.astype("string").fillna("(not recorded)")
    levels = sorted(set(ref) | set(cur))
    return (ref.value_counts().reindex(levels, fill_value=0).to_numpy(),
            cur.value_counts().reindex(levels, fill_value=0).to_numpy(), levels)


def _significant(ref_counts: np.ndarray, cur_counts: np.ndarray) -> bool:
    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return False
    return bool(chi2_contingency(table)[1] < P_ALERT)


def input_drift(reference: pd.DataFrame, current: pd.DataFrame, period: str) -> list[Alert]:
    """Case-mix shifts of the new period's episodes against the reference (training) episodes."""
    alerts = []
    for column, name in CATEGORICAL.items():
        if column not in reference.columns or column not in current.columns:
            continue
        ref, cur, levels = _counts(reference[column], current[column])
        size = psi(ref, cur)
        if size >= PSI_ALERT and _significant(ref, cur):
            share_ref, share_cur = ref / ref.sum(), cur / cur.sum()
            moved = int(np.argmax(np.abs(share_cur - share_ref)))
            alerts.append(Alert("input_drift", name,
                                f"'{levels[moved]}' went from {share_ref[moved]:.0%} to {share_cur[moved]:.0%} of "
                                "episodes", size, "PSI", period,
                                "retrain on data including this period; check the intake form if unexpected"))
    values = {"age": (reference.get("age"), current.get("age")),
              "severity": (pd.Series(_severity(reference)), pd.Series(_severity(current)))}
    for column, name in NUMERIC.items():
        ref_values, cur_values = values[column]
        if ref_values is None or cur_values is None:
            continue
        ref_num = pd.to_numeric(ref_values, errors="coerce").dropna().to_numpy(dtype=float)
        cur_num = pd.to_numeric(cur_values, errors="coerce").dropna().to_numpy(dtype=float)
        if len(ref_num) < 50 or len(cur_num) < 50:
            continue
        edges = np.unique(np.quantile(ref_num, np.linspace(0, 1, 11)))
        edges[0], edges[-1] = -np.inf, np.inf
        ref_bins = np.histogram(ref_num, edges)[0]
        cur_bins = np.histogram(cur_num, edges)[0]
        size = psi(ref_bins, cur_bins)
        if size >= PSI_ALERT and _significant(ref_bins, cur_bins):
            alerts.append(Alert("input_drift", name, f"mean went from {ref_num.mean():.3g} to {cur_num.mean():.3g}",
                                size, "PSI", period, "retrain on data including this period"))
    return alerts


def referral_volume(programs: pd.DataFrame, period: str, lookback: int = 4) -> list[Alert]:
    """Programmes whose referrals moved by half or more against their mean of the `lookback` earlier periods."""
    if "referrals" not in programs.columns:
        return []
    table = programs[["program_id", "period", "referrals"]].astype({"program_id": str, "period": str})
    table["referrals"] = pd.to_numeric(table["referrals"], errors="coerce")
    alerts = []
    for program, rows in table.groupby("program_id"):
        rows = rows.sort_values("period")
        now = rows[rows["period"] == period]["referrals"]
        before = rows[rows["period"] < period]["referrals"].dropna().tail(lookback)
        if now.empty or pd.isna(now.iloc[0]) or len(before) < 2 or before.mean() <= 0:
            continue
        change = float(now.iloc[0] / before.mean() - 1.0)
        if abs(change) >= VOLUME_ALERT:
            alerts.append(Alert("referral_volume", f"programme {program}",
                                f"referrals {now.iloc[0]:,.0f} against a recent mean of {before.mean():,.0f}",
                                change, "relative change", period,
                                "review the programme's capacity and waits; its funding may need to follow"))
    return alerts


def two_proportion_p(successes_a: float, n_a: float, successes_b: float, n_b: float) -> float:
    """Two-sided p-value of equal rates (pooled normal test); 1 where either sample is empty."""
    if n_a <= 0 or n_b <= 0:
        return 1.0
    pooled = (successes_a + successes_b) / (n_a + n_b)
    spread = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if spread <= 0:
        return 1.0
    return float(2 * norm.sf(abs(successes_a / n_a - successes_b / n_b) / spread))


def rate_against_p(successes: float, n: float, rate: float) -> float:
    """Two-sided p-value of `successes` out of `n` against a stated rate (normal approximation to the binomial)."""
    if n <= 0 or not 0 < rate < 1:
        return 1.0
    return float(2 * norm.sf(abs(successes / n - rate) / np.sqrt(rate * (1 - rate) / n)))


def outcome_shift(kpis: pd.DataFrame, period: str, expected: pd.DataFrame | None = None, lookback: int = 4,
                  watched: tuple[str, ...] = ("reliable_improvement_rate", "dropout_rate")) -> list[Alert]:
    """Programmes whose outcome rate in `period` moved by 5 points and at 1 % from their previous `lookback`
    periods and, when `expected` is given (program_id, kpi, rate: the model's forecast at the funding actually
    spent), from that forecast too.

    Each test alone misleads: against history alone every programme whose budget moved looks shifted (funding
    moves outcomes), against the model alone a programme the model has always misjudged alarms every quarter.
    A real change (staff leaving, a broken export) moves the rate away from both."""
    alerts = []
    rows = kpis[kpis["kpi"].isin(watched) & (kpis["n"] > 0)]
    forecast = None if expected is None else expected.set_index(["program_id", "kpi"])["rate"].to_dict()
    for (program, kpi), history in rows.groupby(["program_id", "kpi"]):
        now = history[history["period"] == period]
        before = history[history["period"] < period].sort_values("period").tail(lookback)
        if now.empty or before.empty:
            continue
        n_now, rate_now = float(now["n"].iloc[0]), float(now["value"].iloc[0])
        n_before = float(before["n"].sum())
        rate_before = float((before["value"] * before["n"]).sum() / n_before)
        moved = (abs(rate_now - rate_before) >= RATE_ALERT
                 and two_proportion_p(rate_now * n_now, n_now, rate_before * n_before, n_before) < P_ALERT)
        against = f"{rate_before:.0%} in the previous {len(before)} period(s)"
        if moved and forecast is not None:
            if (program, kpi) not in forecast:
                continue
            rate_model = float(forecast[(program, kpi)])
            moved = (abs(rate_now - rate_model) >= RATE_ALERT
                     and rate_against_p(rate_now * n_now, n_now, rate_model) < P_ALERT)
            against += f" and {rate_model:.0%} forecast at the funding spent"
        if moved:
            name = str(kpi).removesuffix("_rate").replace("_", " ")
            alerts.append(Alert("outcome_shift", f"programme {program}", f"{name} rate {rate_now:.0%} against "
                                f"{against}", rate_now - rate_before, "change in rate", period,
                                "review the programme (staffing, case mix, data entry) before moving money"))
    return alerts
