"""Fitting the three models together from validated tables: the one place that decides targets and weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from features.build import PROGRAM_CATEGORICALS, episode_features, period_outcomes, program_period_features
from features.outcomes import derive_outcomes
from models.classifier import FundingAwareClassifier
from models.clinic import ClinicModel, fit_clinic_model
from models.funding_slope import FundingSlope, fit_funding_slope
from models.reach import ReachModel

# Bagging 60 % of rows per tree and 127 histogram bins are for 1M-episode training on 2 cores; on the demo world
# they cost 0.004 in holdout score (1.198 vs 1.194, response + dropout log loss). `tune` can revisit them.
DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 250, "learning_rate": 0.03, "num_leaves": 15, "min_child_samples": 100, "reg_lambda": 5.0,
    "feature_fraction": 0.8, "subsample": 0.6, "max_bin": 127, "funding_slope": True,
}

FUNDING_SLOPE_PARAM = "funding_slope"
"""Training parameter (true/false, default true): boost both classifiers from a within-programme funding slope
(`models.funding_slope`). On 18 development worlds (6 regimes x seeds 0-2, 30,000 episodes, max_change 0.3) it
raised the median captured share from 0.905 to 0.930 and the regime medians in smooth (0.881 -> 0.931), saturated,
waits (0.883 -> 0.953) and dose-response, won 11 of the 18 worlds, and cost in demand-following worlds, where
budgets chase referral spikes (median 0.931 -> 0.862; the worst world 0.813 -> 0.790). Its expected-count bands
(benchmarks/bench_uncertainty.py on development worlds 201-202) covered the truth for 0.96 of smooth and 0.93 of
waits programme-levels, against 1.00 and 0.98 without; median half-width at current funding 0.41 and 0.81 of the
forecast, against 0.48 and 0.69."""
CLINIC_PARAM = "clinic_column"
"""Training parameter: the grouping column naming each programme's clinic in a clinic network whose budget
categories act together and whose episodes are booked to categories by spend share (docs/CONTRACT.md). With it the
suite also fits the joint clinic model (`models.clinic`), which plans then use; without it (the default) every
programme is forecast on its own."""
DIRECTIONS = {"response": 1, "dropout": -1}
"""Funding never lowers the chance of reliable improvement and never raises the chance of dropping out."""


@dataclass
class ModelSuite:
    response: FundingAwareClassifier
    dropout: FundingAwareClassifier
    reach: ReachModel
    params: dict[str, Any] = field(default_factory=dict)
    clinic: ClinicModel | None = None
    """The joint clinic model, fitted when the training parameters name a clinic column (CLINIC_PARAM)."""


def episode_share(episode_id: pd.Series) -> np.ndarray:
    """A uniform number in [0, 1) per episode fixed by its id alone: which episodes calibrate (and which are
    sampled) then depends neither on row order nor on how a cluster partitions the data."""
    hashed = pd.util.hash_pandas_object(episode_id.astype(str), index=False).to_numpy()
    return (hashed >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def targets(episodes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(reliable improvement, dropout) per episode; no final score counts as not improved."""
    flags = derive_outcomes(episodes["instrument"], episodes["baseline_score"], episodes["final_score"])
    return (flags["reliable_improvement"].to_numpy(dtype=float),
            episodes["dropped_out"].to_numpy(dtype=float, na_value=np.nan))


def chosen_params(params: dict[str, Any] | None) -> dict[str, Any]:
    return {**DEFAULT_PARAMS, **(params or {})}


def fit_suite(programs: pd.DataFrame, episodes: pd.DataFrame, params: dict[str, Any] | None = None,
              seed: int = 0) -> ModelSuite:
    chosen = chosen_params(params)
    trees = tree_params(chosen)
    X = episode_features(programs, episodes)
    ri, dropped = targets(episodes)
    share = episode_share(episodes["episode_id"])
    slopes = funding_slopes(programs, period_outcomes(episodes), chosen)
    response = FundingAwareClassifier(funding_direction=1, random_state=seed, **trees).fit(
        X, ri, row_share=share, funding_slope=slopes["response"])
    dropout = FundingAwareClassifier(funding_direction=-1, random_state=seed, **trees).fit(
        X, dropped, row_share=share, funding_slope=slopes["dropout"])
    clinic = None
    if chosen.get(CLINIC_PARAM):
        clinic = fit_clinic_model(programs, episodes, str(chosen[CLINIC_PARAM]), ri, share, trees, seed)
    return ModelSuite(response, dropout, fit_reach(program_period_features(programs, episodes)), chosen, clinic)


def tree_params(chosen: dict[str, Any]) -> dict[str, Any]:
    """The classifier's constructor arguments among the training parameters."""
    return {k: v for k, v in chosen.items() if k not in (FUNDING_SLOPE_PARAM, CLINIC_PARAM)}


def funding_slopes(programs: pd.DataFrame, outcomes: pd.DataFrame,
                   chosen: dict[str, Any]) -> dict[str, FundingSlope | None]:
    """Each classifier's funding slope (`models.funding_slope`) from per programme-period outcome sums, or None
    for each when the training parameters leave it off."""
    if not chosen.get(FUNDING_SLOPE_PARAM, False):
        return dict.fromkeys(DIRECTIONS)
    return {name: fit_funding_slope(programs, outcomes, name, direction) for name, direction in DIRECTIONS.items()}


def fit_reach(cells: pd.DataFrame) -> ReachModel:
    """Reach from programme-period rows (`program_period_features`): small by nature, so one machine fits it."""
    return ReachModel().fit(cells[[*PROGRAM_CATEGORICALS[:2], "log_funding_per_referral"]], cells["reach"],
                            sample_weight=cells["referrals"].to_numpy())
