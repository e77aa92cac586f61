"""How a programme's outcomes move when its own funding moves: slopes from within-programme variation, pooled by
modality.

Budgets follow quality (the confounder), so a slope across programmes mistakes good programmes for well-funded
ones. Deviations of a programme's periods from its own means carry no such bias: the programme's intercept
absorbs everything constant about it. A programme has a handful of periods, so one slope per programme would be
noise; the slope is pooled within modality and shrunk towards the all-programme slope in proportion to how little
within-programme variation the modality has. Where the sign is known from the mechanism (money never lowers reach
or the improvement rate), a slope of the wrong sign is cut to zero; `direction` 0 leaves the sign to the data, for
a rate whose response to money has no known sign (a programme's dropout rate, which longer courses and more
marginal entrants can raise).

The reach model and the classifiers' funding slope (`models.funding_slope`) both use it, on their own link scales.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class WithinSlopes:
    slopes: dict[str, float]
    """Per modality, on the link scale per unit of x."""
    pooled: float
    """The all-programme slope: what a modality unseen in training gets."""
    intercepts: dict[str, float]
    """Per programme: its mean link value minus its modality's slope times its mean x."""

    def slope_of(self, modality: np.ndarray) -> np.ndarray:
        return np.array([self.slopes.get(str(m), self.pooled) for m in modality], dtype=float)


def within_programme_slopes(program: np.ndarray, modality: np.ndarray, x: np.ndarray, z: np.ndarray,
                            w: np.ndarray, shrinkage: float, direction: int = 1) -> WithinSlopes:
    """Weighted within-programme least squares of z on x; `direction` = +1 keeps slopes >= 0, -1 keeps them <= 0,
    0 keeps either sign."""
    sign = direction if direction != 0 else 1
    clip = 0.0 if direction != 0 else -np.inf
    frame = pd.DataFrame({"p": program, "m": modality, "x": x, "z": z, "w": w})
    sums = frame.assign(wx=frame["w"] * frame["x"], wz=frame["w"] * frame["z"]).groupby("p")[["wx", "wz", "w"]].sum()
    means = pd.DataFrame({"x": sums["wx"] / sums["w"], "z": sums["wz"] / sums["w"]})
    dx = x - means["x"].reindex(program).to_numpy()
    dz = sign * (z - means["z"].reindex(program).to_numpy())
    pooled = max(float(np.sum(w * dx * dz) / max(np.sum(w * dx * dx), 1e-12)), clip)
    slopes = {}
    for m in np.unique(modality):
        rows = modality == m
        sxx = float(np.sum(w[rows] * dx[rows] ** 2))
        sxz = float(np.sum(w[rows] * dx[rows] * dz[rows]))
        prior = shrinkage * float(np.mean(w[rows]))
        slopes[str(m)] = sign * max((sxz + prior * pooled) / (sxx + prior), clip)
    first_modality = frame.groupby("p")["m"].first()
    intercepts = {str(p): float(means.loc[p, "z"] - slopes[str(first_modality[p])] * means.loc[p, "x"])
                  for p in means.index}
    return WithinSlopes(slopes=slopes, pooled=sign * pooled, intercepts=intercepts)
