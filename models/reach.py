"""Reach: the share of a programme's referrals treated, as a function of its funding per referral.

A programme has only a handful of periods, so a tree model on a couple of hundred programme-periods would give
flat steps. Reach is instead a fixed-effects model with a complementary log-log link, fitted on
within-programme variation only:

    log(-log(1 - reach[p, t])) = alpha[p] + beta[modality(p)] * log(funding per referral[p, t])

The cloglog link is the one for saturating capacity: if each funded slot reaches a referral at a constant rate,
reach = 1 - exp(-rate x funding), whose cloglog is linear in log funding with slope 1. A logit link would force a
constant elasticity where the true one changes with how saturated a programme already is.

alpha absorbs everything constant about a programme (including the quality that drove its budget: the
confounder), so beta is identified from how the same programme's reach moved when its funding moved. beta is
pooled within modality (shrunk towards the all-programme slope when a modality has little variation) and
constrained to be non-negative. Limits: assumes a constant elasticity on the cloglog scale; levels far outside a
programme's observed funding range are extrapolations and are flagged by the forecaster.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

EPS = 1e-3


def cloglog(p: np.ndarray) -> np.ndarray:
    return np.log(-np.log1p(-np.clip(p, EPS, 1 - EPS)))


def inverse_cloglog(z: np.ndarray) -> np.ndarray:
    return -np.expm1(-np.exp(z))


class ReachModel(RegressorMixin, BaseEstimator):
    def __init__(self, shrinkage: float = 2.0):
        self.shrinkage = shrinkage

    def fit(self, X: pd.DataFrame, y: np.ndarray | pd.Series, sample_weight: np.ndarray | None = None) -> ReachModel:
        """X needs program_id, modality and log_funding_per_referral; y is reach in [0, 1]; weight = referrals."""
        program = X["program_id"].astype(str).to_numpy()
        modality = X["modality"].astype(str).to_numpy()
        x = X["log_funding_per_referral"].to_numpy(dtype=float)
        z = cloglog(np.asarray(y, dtype=float))
        w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        frame = pd.DataFrame({"p": program, "m": modality, "x": x, "z": z, "w": w})
        weighted = frame.assign(wx=frame["w"] * frame["x"], wz=frame["w"] * frame["z"]).groupby("p")[["wx", "wz", "w"]]
        sums = weighted.sum()
        means = pd.DataFrame({"x": sums["wx"] / sums["w"], "z": sums["wz"] / sums["w"]})
        dx = x - means["x"].reindex(program).to_numpy()
        dz = z - means["z"].reindex(program).to_numpy()
        pooled = max(float(np.sum(w * dx * dz) / max(np.sum(w * dx * dx), 1e-12)), 0.0)
        slopes = {}
        for m in np.unique(modality):
            rows = modality == m
            sxx = float(np.sum(w[rows] * dx[rows] ** 2))
            sxz = float(np.sum(w[rows] * dx[rows] * dz[rows]))
            # Shrink towards the pooled slope in proportion to how little within-programme variation there is.
            prior = self.shrinkage * float(np.mean(w[rows]))
            slopes[m] = max((sxz + prior * pooled) / (sxx + prior), 0.0)
        self.slopes_ = slopes
        self.pooled_slope_ = pooled
        self.intercepts_ = {p: float(means.loc[p, "z"] - slopes[modality[program == p][0]] * means.loc[p, "x"])
                            for p in means.index}
        self.n_features_in_ = 3
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "slopes_")
        program = X["program_id"].astype(str).to_numpy()
        unknown = sorted(set(program) - set(self.intercepts_))
        if unknown:
            raise KeyError(f"reach model has no history for programme(s) {unknown}")
        modality = X["modality"].astype(str).to_numpy()
        alpha = np.array([self.intercepts_[p] for p in program])
        beta = np.array([self.slopes_.get(m, self.pooled_slope_) for m in modality])
        return inverse_cloglog(alpha + beta * X["log_funding_per_referral"].to_numpy(dtype=float))
