"""A past plan scored against the quarter it forecast: per programme forecast vs actual, and what the plan gained.

What can be attributed: the forecast vs actual comparison is direct (both are counts of the same period), but the
plan's gain over the status quo is not observed, because the status quo was not run. It is estimated as the actual
outcome minus the model's forecast of the status quo; that estimate is only as good as the status-quo forecast, and
it also absorbs whatever else changed in the period (case mix, referrals). Programmes whose funding did not follow
the plan are flagged: their actuals say little about the plan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from records.plans import IssuedPlan

ATTRIBUTION = ("Gain over the status quo = actual minus the model's status-quo forecast: the status quo was not run, "
               "so this carries the status-quo forecast's error and anything else that changed in the period (case "
               "mix, referrals). Forecast vs actual per programme is a direct comparison.")
COUNTED = {"reliable_improvements": "reliable_improvement_rate", "dropouts": "dropout_rate", "episodes": "episodes"}
"""Plan metrics that the period's KPIs count, and the KPI each is read from (rate x episodes for rates)."""
FOLLOWED_TOLERANCE = 0.02
"""Funding within 2 % of the recommendation counts as following the plan (rounding, late invoices)."""


@dataclass(frozen=True)
class PlanScore:
    plan_id: str
    period: str
    programmes: pd.DataFrame
    """program_id, metric, forecast, lower, upper, actual, inside (NaN-safe bool), followed, recommended and actual
    funding, status-quo forecast."""
    coverage: dict[str, float]
    """Per metric: share of programmes whose actual count fell inside the plan's interval (programmes with one)."""
    totals: dict[str, dict[str, float]]
    """Per metric: forecast, actual, status-quo forecast, estimated gain over the status quo and its range (NaN
    where the plan stated no interval for the metric)."""
    attribution: str = ATTRIBUTION


def actual_counts(kpis: pd.DataFrame, period: str) -> pd.DataFrame:
    """program_id, metric, actual: the period's counts of the metrics a plan forecasts."""
    rows = kpis[kpis["period"] == period]
    if rows.empty:
        return pd.DataFrame({"program_id": pd.Series(dtype=str), "metric": pd.Series(dtype=str),
                             "actual": pd.Series(dtype=float)})
    table = rows.pivot_table(index="program_id", columns="kpi", values="value", aggfunc="first")
    episodes = table["episodes"]
    frames = []
    for metric, kpi in COUNTED.items():
        actual = episodes if kpi == "episodes" else table[kpi].fillna(0.0) * episodes
        frames.append(pd.DataFrame({"program_id": table.index, "metric": metric, "actual": actual.to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def score_plan(plan: IssuedPlan, kpis: pd.DataFrame, funding: pd.Series) -> PlanScore:
    """`kpis`: the KPI long table including the plan's forecast period; `funding`: actual funding by programme."""
    period = plan.forecast_period
    forecasts = plan.forecasts[plan.forecasts["metric"].isin(list(COUNTED))]
    table = forecasts.merge(actual_counts(kpis, period), on=["program_id", "metric"], how="left")
    if table["actual"].isna().all():
        raise ValueError(f"the KPIs hold no programme of plan {plan.plan_id} in period {period}")
    table["actual_funding"] = table["program_id"].map(funding).astype(float)
    table["followed"] = (np.abs(table["actual_funding"] - table["recommended_funding"])
                         <= FOLLOWED_TOLERANCE * np.maximum(table["recommended_funding"], 1.0))
    has_interval = table["lower"].notna() & table["upper"].notna() & table["actual"].notna()
    table["inside"] = pd.array(np.where(has_interval, (table["actual"] >= table["lower"])
                                        & (table["actual"] <= table["upper"]), False), dtype="boolean")
    table.loc[~has_interval, "inside"] = pd.NA
    coverage = {str(metric): float(group["inside"].dropna().astype(bool).mean())
                for metric, group in table.groupby("metric") if group["inside"].notna().any()}
    totals: dict[str, dict[str, float]] = {}
    for metric, group in table.groupby("metric"):
        seen = group[group["actual"].notna()]
        actual = float(seen["actual"].sum())
        status_quo = float(seen["status_quo_value"].sum())
        totals[str(metric)] = {
            "forecast": float(seen["value"].sum()), "actual": actual, "status_quo_forecast": status_quo,
            "gain_over_status_quo": actual - status_quo,
            # the status quo's own interval bounds the gain's: sums of bounds, so wide rather than falsely narrow
            "gain_lower": actual - float(seen["status_quo_upper"].sum(min_count=len(seen), skipna=False)),
            "gain_upper": actual - float(seen["status_quo_lower"].sum(min_count=len(seen), skipna=False)),
            "programmes_following_plan": float(seen["followed"].sum()), "programmes": float(len(seen)),
        }
    columns = ["program_id", "metric", "value", "lower", "upper", "actual", "inside", "followed",
               "recommended_funding", "actual_funding", "current_funding", "status_quo_value"]
    programmes = table[columns].rename(columns={"value": "forecast", "status_quo_value": "status_quo_forecast"})
    return PlanScore(plan.plan_id, period, programmes.reset_index(drop=True), coverage, totals)
