"""Forecast outcome curves: what each programme is expected to achieve at each funding level.

The optimizer only ever sees these curves, never the ML models behind them, which keeps `allocation`
free of LightGBM/MLflow and lets tests build curves by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

REQUIRED_METRIC = "reliable_improvements"
KNOWN_METRICS: tuple[str, ...] = (
    "reliable_improvements",
    "reliable_improvements_lower",
    "reliable_improvements_upper",
    "dropouts",
    "qalys",
    "satisfaction",
    "episodes",
    "cost",
)


@dataclass(frozen=True, eq=False)
class OutcomeCurve:
    """Expected outcomes of one programme over a funding grid.

    Values between grid points are linearly interpolated; the grid's ends are the limits of what the
    forecast covers, so the optimizer never recommends funding outside them.
    """

    program_id: str
    funding: np.ndarray
    metrics: Mapping[str, np.ndarray]
    current_funding: float
    observed_min: float
    observed_max: float
    referrals: float = 0.0
    groups: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pid = self.program_id
        if not isinstance(pid, str) or not pid:
            raise ValueError("program_id must be a non-empty string")
        funding = np.asarray(self.funding, dtype=float)
        if funding.ndim != 1 or funding.size < 2:
            raise ValueError(f"programme {pid}: funding grid needs at least two points")
        if not np.all(np.isfinite(funding)) or funding[0] < 0:
            raise ValueError(f"programme {pid}: funding grid must be finite and >= 0")
        if np.any(np.diff(funding) <= 0):
            raise ValueError(f"programme {pid}: funding grid must be strictly increasing")
        if REQUIRED_METRIC not in self.metrics:
            raise ValueError(f"programme {pid}: metric {REQUIRED_METRIC!r} is required")
        metrics: dict[str, np.ndarray] = {}
        for name in sorted(self.metrics):
            if name not in KNOWN_METRICS:
                raise ValueError(f"programme {pid}: unknown metric {name!r}; allowed: {', '.join(KNOWN_METRICS)}")
            values = np.asarray(self.metrics[name], dtype=float)
            if values.shape != funding.shape:
                raise ValueError(
                    f"programme {pid}: metric {name!r} has {values.size} values for {funding.size} grid points"
                )
            if not np.all(np.isfinite(values)):
                raise ValueError(f"programme {pid}: metric {name!r} contains NaN or inf")
            values.flags.writeable = False
            metrics[name] = values
        funding.flags.writeable = False
        for label in ("current_funding", "observed_min", "observed_max", "referrals"):
            value = float(getattr(self, label))
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"programme {pid}: {label} must be finite and >= 0, got {value}")
            object.__setattr__(self, label, value)
        if self.observed_min > self.observed_max:
            raise ValueError(
                f"programme {pid}: observed_min {self.observed_min:,.0f} exceeds observed_max {self.observed_max:,.0f}"
            )
        object.__setattr__(self, "funding", funding)
        object.__setattr__(self, "metrics", metrics)
        object.__setattr__(self, "groups", {str(k): str(v) for k, v in self.groups.items()})

    @property
    def funding_min(self) -> float:
        return float(self.funding[0])

    @property
    def funding_max(self) -> float:
        return float(self.funding[-1])

    def value(self, metric: str, funding: float | np.ndarray) -> float | np.ndarray:
        """Linear interpolation, clamped at the grid ends (no extrapolation beyond the forecast)."""
        if metric not in self.metrics:
            raise KeyError(f"programme {self.program_id} has no metric {metric!r}")
        result = np.interp(funding, self.funding, self.metrics[metric])
        if np.ndim(result) == 0:
            return float(result)
        return np.asarray(result, dtype=float)
