"""From a model bundle to the optimizer's inputs: one OutcomeCurve per programme, straight from stored curves."""

from __future__ import annotations

from allocation.curves import OutcomeCurve
from models.bundle import CURVE_METRICS, CareAllocBundle

LAST_YEAR_PERIODS = 4
"""Quarters in the year a planner's spreadsheet looks back over."""


def last_year_improvements_per_dollar(bundle: CareAllocBundle) -> dict[str, float]:
    """Per programme: reliable improvements observed over its last four periods divided by their funding (the
    history also holds the upcoming period, which has no outcomes yet and is left out)."""
    history = bundle.history
    if not {"program_id", "period", "funding", "ri"} <= set(history.columns):
        return {}
    observed = history[history["period"].astype(str) != bundle.next_period]
    recent = observed.sort_values("period").groupby("program_id").tail(LAST_YEAR_PERIODS)
    sums = recent.groupby("program_id")[["ri", "funding"]].sum()
    sums = sums[sums["funding"] > 0]
    return {str(pid): float(row.ri / row.funding) for pid, row in sums.iterrows()}


def outcome_curves(bundle: CareAllocBundle) -> tuple[OutcomeCurve, ...]:
    """The bundle's curves as optimizer inputs. OutcomeCurve is immutable, so a caller that keeps the bundle
    (the service) builds them once and shares them across requests."""
    per_dollar = last_year_improvements_per_dollar(bundle)
    curves = []
    for pid, frame in bundle.curves.groupby("program_id", sort=True):
        state = bundle.programs[str(pid)]
        curves.append(OutcomeCurve(
            program_id=str(pid), funding=frame["funding"].to_numpy(),
            metrics={m: frame[m].to_numpy() for m in CURVE_METRICS if m != "cost"},
            current_funding=state.current_funding, observed_min=state.observed_min,
            observed_max=state.observed_max, referrals=state.next_referrals, groups=dict(state.groups),
            last_year_improvements_per_dollar=per_dollar.get(str(pid)),
        ))
    return tuple(curves)
