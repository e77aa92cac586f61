"""From a model bundle to the optimizer's inputs: one OutcomeCurve per programme, straight from stored curves."""

from __future__ import annotations

from allocation.curves import OutcomeCurve
from models.bundle import CURVE_METRICS, CareAllocBundle


def outcome_curves(bundle: CareAllocBundle) -> tuple[OutcomeCurve, ...]:
    """The bundle's curves as optimizer inputs. OutcomeCurve is immutable, so a caller that keeps the bundle
    (the service) builds them once and shares them across requests."""
    curves = []
    for pid, frame in bundle.curves.groupby("program_id", sort=True):
        state = bundle.programs[str(pid)]
        curves.append(OutcomeCurve(
            program_id=str(pid), funding=frame["funding"].to_numpy(),
            metrics={m: frame[m].to_numpy() for m in CURVE_METRICS if m != "cost"},
            current_funding=state.current_funding, observed_min=state.observed_min,
            observed_max=state.observed_max, referrals=state.next_referrals, groups=dict(state.groups),
        ))
    return tuple(curves)
