"""Forecast outcome curves: what each programme is expected to achieve at each funding level.

The optimizer only ever sees these curves, never the ML models behind them, which keeps `allocation`
free of LightGBM/MLflow and lets tests build curves by hand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
    last_year_improvements_per_dollar: float | None = None
    """Reliable improvements per unit of money over the last four observed periods (the spreadsheet rule's
    figure); None when not known, and the rule then reads the forecast at current funding."""

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
        if self.last_year_improvements_per_dollar is not None:
            ratio = float(self.last_year_improvements_per_dollar)
            if not math.isfinite(ratio) or ratio < 0:
                raise ValueError(f"programme {pid}: last_year_improvements_per_dollar must be finite and >= 0, "
                                 f"got {ratio}")
            object.__setattr__(self, "last_year_improvements_per_dollar", ratio)
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


class GridPositions:
    """Where each programme's funding falls on its own grid, to read any per-programme series there at once.

    ``values(rows)`` equals ``np.interp(funding[i], grids[i], rows[i])`` for every programme i bit for bit
    (same bracketing knots, same ``slope * (x - x0) + y0`` arithmetic, the ends and exact knots returned as
    stored), but costs a few array operations instead of one np.interp call per programme and metric, which
    dominated scoring and explaining a plan. Grids may differ in length; shorter ones are padded and the
    padding is never read.
    """

    def __init__(self, grids: Sequence[np.ndarray], funding: np.ndarray) -> None:
        lengths = [len(g) for g in grids]
        self._width = max(lengths)
        knots = _stacked(grids, self._width)
        x = np.asarray(funding, dtype=float)
        last = np.array(lengths) - 1
        self._rows = np.arange(len(lengths))
        self._left = np.minimum(np.maximum((knots <= x[:, None]).sum(axis=1) - 1, 0), last - 1)  # np.clip, faster
        start = knots[self._rows, self._left]
        self._span = knots[self._rows, self._left + 1] - start
        self._offset = x - start
        # Where np.interp returns a stored value as is: before the grid, at or after its end, on a knot.
        before, after = x < knots[:, 0], x >= knots[self._rows, last]
        self.outside = before | (x > knots[self._rows, last])  # beyond the grid: read as its nearest end
        self._stored = before | after | (self._offset == 0)
        self._stored_at = np.where(before, 0, np.where(after, last, self._left))

    def values(self, rows: Sequence[np.ndarray] | Sequence[Sequence[np.ndarray]]) -> np.ndarray:
        """Each programme's series (as long as its grid) read at its funding, flat beyond the grid ends.

        ``rows`` is one series per programme, or several such lists (one per metric) read in one pass, giving
        an array of shape (metrics, programmes).
        """
        table = _stacked(rows, self._width)
        y0 = table[..., self._rows, self._left]
        inside = (table[..., self._rows, self._left + 1] - y0) / self._span * self._offset + y0
        return np.where(self._stored, table[..., self._rows, self._stored_at], inside)


def _stacked(rows: Sequence[Any], width: int) -> np.ndarray:
    """Rows (or lists of rows) as one float array, rows shorter than ``width`` repeating their last value."""
    if rows and not isinstance(rows[0], np.ndarray):
        return np.array([_stacked(group, width) for group in rows])
    if all(len(r) == width for r in rows):
        return np.array(rows, dtype=float)
    return np.array([np.concatenate([r, np.full(width - len(r), r[-1])]) for r in rows], dtype=float)
