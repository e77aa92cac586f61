"""What "better" means: which forecast metric(s) a plan is scored on.

Every objective turns a curve into one piecewise-linear score over the curve's own funding grid, so the
solver treats all objectives alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from allocation.curves import KNOWN_METRICS, OutcomeCurve

ObjectiveKind = Literal["reliable_improvements", "weighted", "risk_averse"]

# Metrics where fewer is better; they enter the weighted score as outcomes avoided.
HARMFUL_METRICS: frozenset[str] = frozenset({"dropouts"})


@dataclass(frozen=True)
class Objective:
    """``weighted`` sums weight x metric (dropouts count as avoided); ``risk_averse`` uses a lower quantile."""

    kind: ObjectiveKind = "reliable_improvements"
    weights: Mapping[str, float] = field(default_factory=dict)
    quantile_metric: str = "reliable_improvements_lower"

    def __post_init__(self) -> None:
        allowed = ", ".join(KNOWN_METRICS)
        if self.kind not in ("reliable_improvements", "weighted", "risk_averse"):
            raise ValueError(
                f"objective kind must be 'reliable_improvements', 'weighted' or 'risk_averse', got {self.kind!r}"
            )
        for name, weight in self.weights.items():
            if name not in KNOWN_METRICS:
                raise ValueError(f"unknown metric {name!r} in weights; allowed: {allowed}")
            if not math.isfinite(weight):
                raise ValueError(f"weight for {name!r} must be finite, got {weight}")
        if self.kind == "weighted" and not any(w != 0 for w in self.weights.values()):
            raise ValueError(f"a weighted objective needs at least one non-zero weight among: {allowed}")
        if self.quantile_metric not in KNOWN_METRICS:
            raise ValueError(f"unknown quantile_metric {self.quantile_metric!r}; allowed: {allowed}")
        object.__setattr__(self, "weights", dict(sorted(self.weights.items())))

    @property
    def metrics_used(self) -> tuple[str, ...]:
        if self.kind == "weighted":
            return tuple(name for name, w in self.weights.items() if w != 0)
        if self.kind == "risk_averse":
            return (self.quantile_metric,)
        return ("reliable_improvements",)

    def describe(self) -> str:
        if self.kind == "weighted":
            terms = [
                f"{w:g} x {name} avoided" if name in HARMFUL_METRICS else f"{w:g} x {name}"
                for name, w in self.weights.items()
                if w != 0
            ]
            return " + ".join(terms)
        if self.kind == "risk_averse":
            return self.quantile_metric
        return "reliable_improvements"

    def score_grid(self, curve: OutcomeCurve) -> np.ndarray:
        """The objective at each point of the curve's funding grid."""
        missing = [name for name in self.metrics_used if name not in curve.metrics]
        if missing:
            raise ValueError(
                f"objective {self.describe()!r} needs metric(s) {', '.join(missing)} "
                f"but programme {curve.program_id} has only {', '.join(sorted(curve.metrics))}"
            )
        if self.kind != "weighted":
            return np.array(curve.metrics[self.metrics_used[0]], dtype=float)
        score = np.zeros_like(curve.funding, dtype=float)
        for name in self.metrics_used:
            sign = -1.0 if name in HARMFUL_METRICS else 1.0
            score += sign * self.weights[name] * curve.metrics[name]
        return score

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "weights": {k: float(v) for k, v in self.weights.items()},
            "quantile_metric": self.quantile_metric,
            "description": self.describe(),
        }
