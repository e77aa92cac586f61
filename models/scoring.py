"""What a process keeps to score episodes quickly with a loaded bundle: category look-ups, TreeSHAP tables and the
programme-period table, each built once from the fitted models.

They live here, not on the estimators or the bundle: those are what MLflow pickles, and a per-process look-up has
no place in a registry artefact. A service builds one `BundleScorer` per loaded bundle, before it serves it, so no
request waits for the tables (the TreeSHAP loop alone compiles for ~3.5 s once per process).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from features.build import EpisodeColumns, ProgramPeriods
from models.bundle import CareAllocBundle
from models.classifier import Features, FundingAwareClassifier, category_codes, feature_matrix, level_index
from models.treeshap import tables_for


class ClassifierScorer:
    """One fitted classifier with its category look-ups and TreeSHAP tables."""

    def __init__(self, model: FundingAwareClassifier):
        check_is_fitted(model, "booster_")
        self.model = model
        self.columns = [str(c) for c in model.feature_names_in_]
        self.levels = level_index(model.categories_)
        self.tables = tables_for(model.booster_)
        """None when LightGBM must compute the contributions itself (see `models.treeshap.tables_for`)."""

    def matrix(self, X: Features) -> np.ndarray:
        return feature_matrix(X, self.columns, self.levels)

    def unknown_levels(self, X: Features, matrix: np.ndarray | None = None) -> dict[str, list[str]]:
        """Category values the model never saw, per column (serving refuses these rather than scoring them).
        `matrix`, this scorer's `matrix(X)`, saves coding the categories again: unseen values are NaN in it."""
        position = {col: j for j, col in enumerate(self.columns)}
        found = {}
        for col, levels in self.levels.items():
            coded = ~np.isnan(matrix[:, position[col]]) if matrix is not None else category_codes(X[col], levels) >= 0
            if coded.all():
                continue
            values = np.asarray(X[col], dtype=object)
            unseen_rows = ~coded & ~pd.isna(values)
            if unseen_rows.any():
                found[col] = sorted({str(v) for v in values[unseen_rows]})
        return found

    def probability_and_contributions(self, X: Features, matrix: np.ndarray | None = None
                                      ) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated probability and TreeSHAP contributions (log-odds, last column the expected value), from ONE
        pass over the trees.

        Contributions (the trees' and the funding slope's term, `FundingAwareClassifier.with_offset`) add up to
        the model's raw score, so the probability is their sum through the logistic
        link and the isotonic map, as `predict_proba` computes it from the booster: equal to it up to float
        rounding (tests check 1e-9). The contributions come from the tables, equal to LightGBM's own within
        1e-9, else from LightGBM. Serving needs both numbers for every episode, and walking the trees twice
        would double its cost.
        """
        matrix = self.matrix(X) if matrix is None else matrix
        trees = (self.tables.contributions(matrix) if self.tables is not None else np.asarray(
            self.model.booster_.predict(matrix, pred_contrib=True, num_threads=self.model.n_jobs)))
        contributions = self.model.with_offset(matrix, trees)
        raw = contributions.sum(axis=1)
        return self.model.calibrated(1.0 / (1.0 + np.exp(-raw))), contributions


class BundleScorer:
    """A loaded bundle with what scoring its episodes reads on every request."""

    def __init__(self, bundle: CareAllocBundle):
        self.bundle = bundle
        self.periods = ProgramPeriods.of(bundle.program_table, bundle.history)
        self.response = ClassifierScorer(bundle.suite.response)
        self.dropout = ClassifierScorer(bundle.suite.dropout)

    def feature_columns(self, episodes: EpisodeColumns) -> dict[str, np.ndarray]:
        return self.bundle.feature_columns(episodes, self.periods)
