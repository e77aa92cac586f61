"""Reach: the share of a programme's referrals treated, as a function of its funding per referral.

A programme has only a handful of periods, so a tree model on a couple of hundred programme-periods would give
flat steps. Reach is instead a fixed-effects model with a complementary log-log link, fitted on
within-programme variation only:

    log(-log(1 - reach[p, t])) = alpha[p] + beta[modality(p)] * log(funding per referral[p, t])

The cloglog link is the one for saturating capacity: if each funded slot reaches a referral at a constant rate,
reach = 1 - exp(-rate x funding), whose cloglog is linear in log funding with slope 1. A logit link would force a
constant elasticity where the true one changes with how saturated a programme already is.

alpha absorbs everything constant about a programme (including the quality that drove its budget: the
confounder), so beta is identified from how the same programme's reach moved when its funding moved
(`models.within_slope`: pooled within modality, shrunk towards the all-programme slope, non-negative).
Limits: assumes a constant elasticity on the cloglog scale; levels far outside a programme's observed funding
range are extrapolations and are flagged by the forecaster.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from models.within_slope import within_programme_slopes

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
        w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        fitted = within_programme_slopes(
            X["program_id"].astype(str).to_numpy(), X["modality"].astype(str).to_numpy(),
            X["log_funding_per_referral"].to_numpy(dtype=float), cloglog(np.asarray(y, dtype=float)), w,
            self.shrinkage)
        self.slopes_ = fitted.slopes
        self.pooled_slope_ = fitted.pooled
        self.intercepts_ = fitted.intercepts
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
