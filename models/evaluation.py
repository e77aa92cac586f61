"""Holdout evaluation a data scientist can trust: temporal split, proper scores, calibration, baselines, slices.

Train on earlier periods, score the last ones: the model is always judged on periods it has not seen, as it will
be used. The headline score is the sum of the response and dropout log losses (a proper, calibration-aware
score); AUC alone would reward a model whose probabilities are badly off, which the optimizer cannot afford.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from features.build import (
    CATEGORICAL_FEATURES,
    EPISODE_FEATURES,
    PROGRAM_CATEGORICALS,
    episode_features,
    period_outcomes,
    program_period_features,
)
from models.conformal_cells import calibrate_intervals, served_forecast_cells
from models.reach import ReachModel
from models.suite import fit_suite, targets

SLICE_COLUMNS = ("modality", "region", "age_band", "payer")
CALIBRATION_BINS = 10
MODEL_NAMES = ("response", "dropout")


@dataclass(frozen=True)
class HoldoutSplit:
    train_programs: pd.DataFrame
    train_episodes: pd.DataFrame
    test_features: pd.DataFrame
    test_episodes: pd.DataFrame
    test_periods: tuple[str, ...]


def temporal_split(programs: pd.DataFrame, episodes: pd.DataFrame, holdout_periods: int = 2) -> HoldoutSplit:
    periods = sorted(programs["period"].unique())
    if len(periods) <= holdout_periods + 1:
        raise ValueError(f"need more than {holdout_periods + 1} periods for a temporal holdout; found {len(periods)}")
    test_periods = tuple(periods[-holdout_periods:])
    train_p = programs[~programs["period"].isin(test_periods)].reset_index(drop=True)
    test_rows = episodes["period"].isin(test_periods)
    train_e = episodes[~test_rows].reset_index(drop=True)
    test_e = episodes[test_rows].reset_index(drop=True)
    # Features of held-out episodes use only periods before their own (leakage-safe), so building them on the
    # full tables is the same as building them at the time.
    test_x = episode_features(programs, episodes).loc[test_rows.to_numpy()].reset_index(drop=True)
    return HoldoutSplit(train_p, train_e, test_x, test_e, test_periods)


def before_holdout(programs: pd.DataFrame, episodes: pd.DataFrame,
                   holdout_periods: int = 2) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables without the gate's holdout periods (the last `holdout_periods`): what tuning may look at."""
    periods = sorted(programs["period"].unique())
    if len(periods) <= holdout_periods:
        raise ValueError(f"need more than {holdout_periods} periods to keep a holdout apart; found {len(periods)}")
    kept = set(periods[:-holdout_periods])
    return (programs[programs["period"].isin(kept)].reset_index(drop=True),
            episodes[episodes["period"].isin(kept)].reset_index(drop=True))


def validation_split(programs: pd.DataFrame, episodes: pd.DataFrame, holdout_periods: int = 2,
                     validation_periods: int = 1) -> HoldoutSplit:
    """Tuning's split: the gate's holdout (the last `holdout_periods`) is set aside untouched, and the
    `validation_periods` before it are scored, with everything earlier to fit on. Tuning then never sees the
    periods whose score decides promotion."""
    kept_programs, kept_episodes = before_holdout(programs, episodes, holdout_periods)
    return temporal_split(kept_programs, kept_episodes, validation_periods)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        rows = which == b
        if rows.any():
            total += rows.mean() * abs(y[rows].mean() - p[rows].mean())
    return float(total)


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Mean forecast vs observed rate per probability bin (the reliability plot's data)."""
    which = np.clip(np.digitize(p, np.linspace(0, 1, bins + 1)[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "forecast": p, "observed": y})
    return frame.groupby("bin").agg(forecast=("forecast", "mean"), observed=("observed", "mean"),
                                    count=("observed", "size")).reset_index()


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    both = len(np.unique(y)) == 2
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": expected_calibration_error(y, p),
    }


def logistic_baseline(train_x: pd.DataFrame, y: np.ndarray) -> Any:
    """Logistic regression on the same features (one-hot categories, imputed and scaled numbers)."""
    cats = [c for c in train_x.columns if c in CATEGORICAL_FEATURES]
    nums = [c for c in train_x.columns if c not in CATEGORICAL_FEATURES]
    pre = ColumnTransformer([
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                              OneHotEncoder(handle_unknown="ignore")), cats),
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
                              StandardScaler()), nums),
    ])
    model = make_pipeline(pre, LogisticRegression(max_iter=300, C=1.0))
    return model.fit(train_x.astype({c: "object" for c in cats}), y)


def slice_labels(test_x: pd.DataFrame) -> pd.DataFrame:
    """The cohort of each held-out episode in every slice column (what slice metrics group by)."""
    age = test_x["age"]
    return pd.DataFrame({
        "modality": test_x["modality"].astype(str),
        "region": test_x["region"].astype(str),
        "age_band": pd.cut(age, [0, 25, 40, 65, 200], labels=["<25", "25-39", "40-64", "65+"], right=False)
        .astype(str),
        "payer": test_x["payer"].astype(str),
    }, index=test_x.index)


def logistic_input(x: pd.DataFrame) -> pd.DataFrame:
    """Episode features as the logistic baseline takes them (categories as plain objects)."""
    return x[list(EPISODE_FEATURES)].astype({c: "object" for c in CATEGORICAL_FEATURES})


@dataclass(frozen=True)
class HeldOutForecasts:
    """What a holdout report needs of the held-out episodes: a few columns per episode, never their features.

    Both engines fill it: the single-machine one from frames, the Dask one by collecting these columns only.
    """

    keys: pd.DataFrame
    """program_id and period of each held-out episode."""
    slices: pd.DataFrame
    outcomes: dict[str, np.ndarray]
    """Observed targets per model name ("response", "dropout")."""
    forecasts: dict[str, np.ndarray]
    logistic: dict[str, np.ndarray]
    """The logistic-regression baseline's forecasts per model name."""
    prior_rates: dict[str, float]
    """The training periods' rate per model name (the prior-rate baseline)."""


def count_forecast_errors(reach: ReachModel, cells: pd.DataFrame, held: HeldOutForecasts) -> pd.DataFrame:
    """Per held-out programme-period: forecast vs realised episodes and reliable improvements."""
    cells = cells[cells["period"].isin(held.keys["period"].unique())].reset_index(drop=True)
    forecast_episodes = cells["referrals"].to_numpy() * reach.predict(
        cells[[*PROGRAM_CATEGORICALS[:2], "log_funding_per_referral"]])
    per_cell = pd.DataFrame({"program_id": held.keys["program_id"].to_numpy(),
                             "period": held.keys["period"].to_numpy(),
                             "p": held.forecasts["response"], "ri": held.outcomes["response"]}).groupby(
        ["program_id", "period"]).agg(mean_p=("p", "mean"), realised_ri=("ri", "sum"))
    cells = cells.join(per_cell, on=["program_id", "period"])
    return pd.DataFrame({
        "program_id": cells["program_id"].astype(str), "period": cells["period"],
        "forecast_episodes": forecast_episodes, "realised_episodes": cells["episodes"],
        "forecast_ri": forecast_episodes * cells["mean_p"].fillna(0.0),
        "realised_ri": cells["realised_ri"].fillna(0.0),
    })


def evaluate_holdout(programs: pd.DataFrame, episodes: pd.DataFrame, params: dict[str, Any] | None = None,
                     seed: int = 0, holdout_periods: int = 2) -> dict[str, Any]:
    """Fit on earlier periods, score the held-out ones: metrics, baselines, slices, count errors, intervals."""
    split = temporal_split(programs, episodes, holdout_periods)
    suite = fit_suite(split.train_programs, split.train_episodes, params, seed)
    train_x = logistic_input(episode_features(split.train_programs, split.train_episodes))
    train_y = dict(zip(MODEL_NAMES, targets(split.train_episodes), strict=True))
    models = {"response": suite.response, "dropout": suite.dropout}
    test_lr = logistic_input(split.test_features)
    held = HeldOutForecasts(
        keys=split.test_episodes[["program_id", "period"]], slices=slice_labels(split.test_features),
        outcomes=dict(zip(MODEL_NAMES, targets(split.test_episodes), strict=True)),
        forecasts={name: models[name].predict_proba(split.test_features)[:, 1] for name in MODEL_NAMES},
        logistic={name: logistic_baseline(train_x, train_y[name]).predict_proba(test_lr)[:, 1]
                  for name in MODEL_NAMES},
        prior_rates={name: float(train_y[name].mean()) for name in MODEL_NAMES},
    )
    report = holdout_report(held, suite.reach, program_period_features(programs, episodes), split.test_periods)
    outcomes = period_outcomes(episodes)
    cells = served_forecast_cells(suite, programs, episodes, outcomes, split.test_periods, seed)
    return report | interval_report(cells, programs, outcomes)


def interval_report(cells: pd.DataFrame, programs: pd.DataFrame, outcomes: pd.DataFrame) -> dict[str, Any]:
    """The interval calibration from held-out cells and its figures (cells, spreads, quantiles) as metrics."""
    calibration = calibrate_intervals(cells, programs, outcomes)
    figures = {f"interval_{k}": v for k, v in calibration.to_dict().items() if np.isfinite(v)}
    return {"intervals": calibration, "interval_cells": cells, "interval_metrics": figures}


def holdout_report(held: HeldOutForecasts, reach: ReachModel, cells: pd.DataFrame,
                   test_periods: tuple[str, ...]) -> dict[str, Any]:
    """Metrics beside both baselines, count errors, slices and reliability tables."""
    metrics: dict[str, float] = {}
    for name in MODEL_NAMES:
        y_test, p = held.outcomes[name], held.forecasts[name]
        metrics |= {f"{name}_{k}": v for k, v in binary_metrics(y_test, p).items()}
        prior = np.full(len(y_test), held.prior_rates[name])
        metrics |= {f"{name}_prior_{k}": v for k, v in binary_metrics(y_test, prior).items()}
        metrics |= {f"{name}_logistic_{k}": v for k, v in binary_metrics(y_test, held.logistic[name]).items()}
    metrics["holdout_score"] = metrics["response_log_loss"] + metrics["dropout_log_loss"]

    counts = count_forecast_errors(reach, cells, held)
    metrics["reach_episodes_mae"] = float((counts["forecast_episodes"] - counts["realised_episodes"]).abs().mean())
    metrics["reach_episodes_mape"] = float(((counts["forecast_episodes"] - counts["realised_episodes"]).abs()
                                            / counts["realised_episodes"].clip(lower=1)).mean())
    metrics["ri_count_mape"] = float(((counts["forecast_ri"] - counts["realised_ri"]).abs()
                                      / counts["realised_ri"].clip(lower=1)).mean())

    rows = []
    for column in SLICE_COLUMNS:
        for value, idx in held.slices.reset_index(drop=True).groupby(column).indices.items():
            if len(idx) < 30:
                continue
            for name in MODEL_NAMES:
                m = binary_metrics(held.outcomes[name][idx], held.forecasts[name][idx])
                rows.append({"slice": column, "value": value, "model": name, "n": len(idx), **m})
    return {
        "metrics": metrics, "slices": pd.DataFrame(rows), "counts": counts,
        "reliability": {name: reliability_table(held.outcomes[name], held.forecasts[name]) for name in MODEL_NAMES},
        "test_periods": test_periods,
    }
