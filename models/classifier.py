"""LightGBM classifier whose forecasts move in one direction with funding, with native categoricals and calibration.

Why monotone constraints: with confounded history a free model can learn that money hurts (the wrong sign) from
noise; the constraint encodes what we know of the mechanism and keeps the optimizer from chasing artefacts.
Why isotonic calibration on a held-out slice: the optimizer adds probabilities across thousands of patients, so a
systematic bias of a few points becomes hundreds of episodes. Isotonic maps are monotone, so calibration keeps the
funding monotonicity. Follows scikit-learn conventions (parameters only in __init__, fitted attributes end in _)
so `clone`, pipelines, CV and `shap.TreeExplainer(est.booster_)` work.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

from features.build import CATEGORICAL_FEATURES, FUNDING_FEATURES
from models.funding_slope import FUNDING_COLUMN, FundingSlope

Features = pd.DataFrame | Mapping[str, Any]
"""A feature frame, or the same columns as arrays (`features.build.episode_columns`)."""
LevelIndex = dict[str, dict[Any, int]]
"""Per categorical column, each training level's position."""


def level_index(categories: Mapping[str, Sequence[Any]]) -> LevelIndex:
    return {col: {level: i for i, level in enumerate(levels)} for col, levels in categories.items()}


def category_codes(values: Any, levels: Mapping[Any, int]) -> np.ndarray:
    """Position of each value in the training levels; -1 for missing or never-seen values.

    A dict look-up per value (missing values match no level, so they get -1 like unseen ones): pandas'
    index look-up costs more to set up than a request of a few episodes takes in total."""
    if isinstance(values, pd.Series) and isinstance(values.dtype, pd.CategoricalDtype):
        # map the few categories, not every row; code -1 (missing) picks the appended -1
        mapping = [levels.get(level, -1) for level in values.cat.categories.to_numpy(dtype=object)]
        return np.array([*mapping, -1], dtype=np.intp)[values.cat.codes.to_numpy()]
    objects = np.asarray(values, dtype=object)
    return np.fromiter((levels.get(v, -1) for v in objects), dtype=np.intp, count=len(objects))


def feature_matrix(X: Features, columns: Sequence[str], levels: LevelIndex) -> np.ndarray:
    """The features as a booster's numeric matrix: category codes (NaN when unseen) and numbers.

    Codes follow the category lists stored at fit, which are the ones LightGBM recorded, so predicting on this
    matrix equals predicting on the prepared frame (tests check it), without building a Categorical per column
    and call: serving scores single episodes, where that pandas overhead was most of the time. `X` may also be
    plain arrays per column (`features.build.episode_columns`), which serving passes.
    """
    out = np.empty((len(X[columns[0]]), len(columns)), dtype=np.float64)
    for j, col in enumerate(columns):
        if col in levels:
            codes = category_codes(X[col], levels[col]).astype(np.float64)
            codes[codes < 0] = np.nan
            out[:, j] = codes
        else:
            values = X[col]
            out[:, j] = (values.to_numpy(dtype=np.float64, na_value=np.nan) if isinstance(values, pd.Series)
                         else np.asarray(values, dtype=np.float64))
    return out


class FundingAwareClassifier(ClassifierMixin, BaseEstimator):
    """Binary LightGBM model; `funding_direction` = +1 (more money never lowers p) or -1 (never raises p)."""

    CATEGORICAL_COLUMNS: tuple[str, ...] = CATEGORICAL_FEATURES

    def __init__(self, funding_direction: int = 1, n_estimators: int = 300, learning_rate: float = 0.05,
                 num_leaves: int = 31, min_child_samples: int = 50, reg_lambda: float = 1.0,
                 feature_fraction: float = 0.9, subsample: float = 1.0, max_bin: int = 255,
                 calibration_fraction: float = 0.2, random_state: int = 0, n_jobs: int = 2):
        self.funding_direction = funding_direction
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.feature_fraction = feature_fraction
        self.subsample = subsample
        self.max_bin = max_bin
        self.calibration_fraction = calibration_fraction
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _prepare(self, X: pd.DataFrame) -> pd.DataFrame:
        """Align columns and category levels with training, so unseen levels become missing, never re-coded."""
        frame = X.loc[:, self.feature_names_in_].copy()
        for col, levels in level_index(self.categories_).items():
            frame[col] = pd.Categorical.from_codes(category_codes(X[col], levels),
                                                   dtype=pd.CategoricalDtype(self.categories_[col]))
        return frame

    def is_monotone(self, column: str) -> bool:
        """Whether forecasts move only in `funding_direction` along this column (a subclass may name others)."""
        return column in FUNDING_FEATURES

    def lightgbm_params(self, columns: Sequence[str]) -> dict[str, Any]:
        """LightGBM constructor arguments for these feature columns; the Dask engine passes the same ones to
        `lightgbm.DaskLGBMClassifier`, so both engines grow trees under the same constraints (enforced there by
        LightGBM's "basic" method, the only one its distributed learning has; see `training.distributed`)."""
        constraints = [self.funding_direction if self.is_monotone(c) else 0 for c in columns]
        return dict(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate, num_leaves=self.num_leaves,
            min_child_samples=self.min_child_samples, reg_lambda=self.reg_lambda,
            colsample_bytree=self.feature_fraction, subsample=self.subsample,
            subsample_freq=1 if self.subsample < 1.0 else 0, max_bin=self.max_bin,
            monotone_constraints=constraints, monotone_constraints_method="advanced", random_state=self.random_state,
            n_jobs=self.n_jobs, verbose=-1, max_cat_to_onehot=8, cat_smooth=20.0,
        )

    def fit(self, X: pd.DataFrame, y: Sequence[float] | np.ndarray, eval_set: tuple[pd.DataFrame, Any] | None = None,
            callbacks: list[Any] | None = None, row_share: np.ndarray | None = None,
            funding_slope: FundingSlope | None = None) -> FundingAwareClassifier:
        """`row_share` (uniform in [0, 1) per row, e.g. `models.suite.episode_share`) picks the calibration rows
        as those below `calibration_fraction`; without it they are drawn at random from `random_state`. Shares
        tied to episode identity make the split independent of row order and of how a cluster partitions the
        data, so the Dask engine calibrates on exactly the same episodes. With `funding_slope` the trees boost
        from its log-odds term (`models.funding_slope`), which then belongs to every prediction."""
        y_arr = np.asarray(y, dtype=float)
        levels = {c: list(pd.Categorical(X[c]).categories) for c in X.columns if c in self.CATEGORICAL_COLUMNS}
        self._remember_inputs(list(X.columns), levels, funding_slope)
        frame = self._prepare(X)
        share = np.random.default_rng(self.random_state).random(len(frame)) if row_share is None else np.asarray(
            row_share, dtype=float)
        calibrate = share < self.calibration_fraction if self.calibration_fraction > 0 else None
        fit_rows = ~calibrate if calibrate is not None else np.ones(len(frame), bool)
        self.model_ = lgb.LGBMClassifier(**self.lightgbm_params(list(self.feature_names_in_)))
        fit_kwargs: dict[str, Any] = {"callbacks": callbacks or []}
        if funding_slope is not None:
            fit_kwargs["init_score"] = self.offset(self._matrix(X))[fit_rows]
        if eval_set is not None:
            fit_kwargs["eval_X"] = (self._prepare(eval_set[0]),)
            fit_kwargs["eval_y"] = (np.asarray(eval_set[1], dtype=float),)
            if funding_slope is not None:
                fit_kwargs["eval_init_score"] = [self.offset(self._matrix(eval_set[0]))]
        self.model_.fit(frame[fit_rows], y_arr[fit_rows], **fit_kwargs)
        self.booster_ = self.model_.booster_
        self.calibrator_: IsotonicRegression | None = None
        if calibrate is not None:
            self.calibrate(self.raw_probability(X[calibrate]), y_arr[calibrate])
        return self

    def adopt(self, model: lgb.LGBMClassifier, columns: Sequence[str], categories: dict[str, list[Any]],
              funding_slope: FundingSlope | None = None) -> FundingAwareClassifier:
        """Take over a LightGBM model fitted elsewhere (a Dask cluster's `.to_local()`) on frames with exactly
        these columns and category levels, boosted from `funding_slope`'s offset; calibrate it afterwards with
        `calibrate`."""
        self._remember_inputs(list(columns), categories, funding_slope)
        self.model_ = model
        self.booster_ = model.booster_
        self.calibrator_ = None
        return self

    def calibrate(self, raw: np.ndarray, y: np.ndarray) -> FundingAwareClassifier:
        """Isotonic map from raw booster probabilities to observed rates, from rows the trees were not grown on."""
        y = np.asarray(y, dtype=float)
        self.calibrator_ = None
        if len(y) >= 50 and len(np.unique(y)) == 2:
            self.calibrator_ = IsotonicRegression(y_min=1e-4, y_max=1 - 1e-4, out_of_bounds="clip").fit(
                np.asarray(raw, dtype=float), y)
        return self

    def raw_probability(self, X: Features) -> np.ndarray:
        """The model's probability before calibration (what `calibrate` maps): trees plus the funding slope."""
        check_is_fitted(self, "booster_")
        matrix = self.matrix(X)
        if self.funding_slope is None:
            return np.asarray(self.booster_.predict(matrix, num_threads=self.n_jobs))
        raw = np.asarray(self.booster_.predict(matrix, raw_score=True, num_threads=self.n_jobs))
        return 1.0 / (1.0 + np.exp(-(raw + self.offset(matrix))))

    @property
    def funding_slope(self) -> FundingSlope | None:
        """None for models fitted without one (and for bundles pickled before the slope existed)."""
        return getattr(self, "funding_slope_", None)

    def offset(self, matrix: np.ndarray) -> np.ndarray:
        """The funding slope's log-odds per row of a booster matrix (`matrix`); zeros without a slope."""
        slope = self.funding_slope
        if slope is None:
            return np.zeros(len(matrix))
        columns = list(self.feature_names_in_)
        return slope.offset(self._levels(matrix, columns.index("program_id"), "program_id"),
                            self._levels(matrix, columns.index("modality"), "modality"),
                            matrix[:, columns.index(FUNDING_COLUMN)])

    def _levels(self, matrix: np.ndarray, column: int, name: str) -> np.ndarray:
        """A categorical column's values back from its codes (None where missing or unseen)."""
        levels = np.array([*self.categories_[name], None], dtype=object)
        codes = matrix[:, column]
        return levels[np.where(np.isnan(codes), len(levels) - 1, codes).astype(np.intp)]

    def with_offset(self, matrix: np.ndarray, contributions: np.ndarray) -> np.ndarray:
        """The trees' contributions (last column the expected value) with the funding slope's term added on
        `log_funding_per_referral`, so the row sums stay the model's log-odds."""
        if self.funding_slope is None:
            return contributions
        out = np.array(contributions, dtype=np.float64, copy=True)
        out[:, list(self.feature_names_in_).index(FUNDING_COLUMN)] += self.offset(matrix)
        return out

    def _remember_inputs(self, columns: list[str], categories: dict[str, list[Any]],
                         funding_slope: FundingSlope | None = None) -> None:
        self.feature_names_in_ = np.array(columns, dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.categories_ = {c: list(levels) for c, levels in categories.items()}
        self.classes_ = np.array([0, 1])
        self.funding_slope_ = funding_slope

    def same_inputs(self, other: FundingAwareClassifier) -> bool:
        """Whether `other` reads the same columns with the same category levels, so one `matrix` serves both
        (the response and dropout models are fitted on the same features)."""
        return (list(self.feature_names_in_) == list(other.feature_names_in_)
                and self.categories_ == other.categories_)

    def matrix(self, X: Features) -> np.ndarray:
        """The features as the booster's own numeric matrix (`feature_matrix`)."""
        check_is_fitted(self, "booster_")
        return self._matrix(X)

    def _matrix(self, X: Features) -> np.ndarray:
        return feature_matrix(X, list(self.feature_names_in_), level_index(self.categories_))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "booster_")
        p = self.calibrated(self.raw_probability(X))
        return np.column_stack([1.0 - p, p])

    def calibrated(self, raw_probability: np.ndarray) -> np.ndarray:
        """The isotonic map (identity when there was too little data to calibrate).

        What `IsotonicRegression.predict` computes (clip, then scipy's linear interp1d, which hands float64 data
        to `np.interp`), without its input checks, which took more CPU than a one-episode request's trees; tests
        check the results are bit for bit those of `predict`.
        """
        cal = self.calibrator_
        if cal is None:
            return raw_probability
        y = cal.y_thresholds_
        values = np.clip(np.asarray(raw_probability, dtype=np.float64), cal.X_min_, cal.X_max_)
        if len(y) == 1:
            return np.repeat(y, len(values))
        return np.interp(values, cal.X_thresholds_, y)

    def contributions(self, X: Features) -> np.ndarray:
        """Exact TreeSHAP values in log-odds (LightGBM's own implementation) with the funding slope's term
        (`with_offset`); last column is the expected value."""
        matrix = self.matrix(X)
        return self.with_offset(matrix, np.asarray(self.booster_.predict(matrix, pred_contrib=True,
                                                                         num_threads=self.n_jobs)))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def prepared(self, X: pd.DataFrame) -> pd.DataFrame:
        """The frame exactly as the booster sees it (what SHAP explanations must be computed on)."""
        check_is_fitted(self, "booster_")
        return self._prepare(X)
