"""From a model bundle to the optimizer's inputs: one OutcomeCurve per programme, straight from stored curves."""

from __future__ import annotations

from allocation.curves import OutcomeCurve
from models.bundle import CURVE_METRICS, CareAllocBundle

_MEMO = "_outcome_curves"


def outcome_curves(bundle: CareAllocBundle) -> list[OutcomeCurve]:
    """The bundle's curves as optimizer inputs; built once per bundle (a loaded bundle never changes, and every
    recommendation, scenario and forecast request needs them), then shared: OutcomeCurve is immutable."""
    memo: tuple[OutcomeCurve, ...] | None = bundle.__dict__.get(_MEMO)
    if memo is None:
        memo = tuple(_build(bundle))
        bundle.__dict__[_MEMO] = memo
    return list(memo)


def _build(bundle: CareAllocBundle) -> list[OutcomeCurve]:
    curves = []
    for pid, frame in bundle.curves.groupby("program_id", sort=True):
        state = bundle.programs[str(pid)]
        curves.append(OutcomeCurve(
            program_id=str(pid), funding=frame["funding"].to_numpy(),
            metrics={m: frame[m].to_numpy() for m in CURVE_METRICS if m != "cost"},
            current_funding=state.current_funding, observed_min=state.observed_min,
            observed_max=state.observed_max, referrals=state.next_referrals, groups=dict(state.groups),
        ))
    return curves
