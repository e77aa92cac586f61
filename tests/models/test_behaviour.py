"""Behavioural model tests: directional (funding), invariance (ids, row order), estimator conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.base import clone

from features.build import FUNDING_FEATURES, episode_features
from models.classifier import FundingAwareClassifier


def test_more_funding_never_lowers_response_or_raises_dropout(small_world, trained) -> None:
    _, programs, episodes = small_world
    suite, _, _ = trained
    X = episode_features(programs, episodes).sample(400, random_state=0).reset_index(drop=True)
    previous_ri = previous_drop = None
    for shift in np.linspace(-1.0, 1.0, 9):
        moved = X.copy()
        for col in FUNDING_FEATURES:
            moved[col] = X[col] + shift
        ri = suite.response.predict_proba(moved)[:, 1]
        drop = suite.dropout.predict_proba(moved)[:, 1]
        if previous_ri is not None:
            assert (ri >= previous_ri - 1e-12).all()
            assert (drop <= previous_drop + 1e-12).all()
        previous_ri, previous_drop = ri, drop


def test_identifiers_and_row_order_do_not_change_risk(small_world, trained) -> None:
    _, _, episodes = small_world
    _, _, bundle = trained
    sample = episodes.sample(50, random_state=1).reset_index(drop=True)
    risk = bundle.risk(sample)
    renamed = sample.assign(patient_id="someone-else", episode_id=[f"X{i}" for i in range(len(sample))])
    pd.testing.assert_frame_equal(risk, bundle.risk(renamed))
    order = np.random.default_rng(0).permutation(len(sample))
    shuffled = bundle.risk(sample.iloc[order].reset_index(drop=True))
    np.testing.assert_allclose(shuffled.to_numpy(), risk.iloc[order].to_numpy())


def test_estimator_conventions_clone_and_shap(small_world) -> None:
    _, programs, episodes = small_world
    X = episode_features(programs, episodes)
    y = (episodes["dropped_out"].to_numpy(dtype=float))
    est = FundingAwareClassifier(funding_direction=-1, n_estimators=20, min_child_samples=1)
    fresh = clone(est)
    assert fresh.get_params() == est.get_params()
    with pytest.raises(Exception, match="not fitted"):
        fresh.predict_proba(X.head())
    fresh.fit(X, y)
    assert fresh.predict_proba(X.head()).shape == (5, 2)
    values = np.asarray(shap.TreeExplainer(fresh.booster_).shap_values(fresh.prepared(X.head(10))))
    values = values[-1] if values.ndim == 3 else values
    assert values.shape == (10, X.shape[1])
    # LightGBM's own TreeSHAP (used for explanations) agrees with shap's.
    np.testing.assert_allclose(fresh.contributions(X.head(10))[:, :-1], values, atol=1e-6)
    # The numeric-matrix fast path predicts exactly what LightGBM predicts from the frame.
    np.testing.assert_allclose(fresh.booster_.predict(fresh.prepared(X.head(50))),
                               fresh.booster_.predict(fresh.matrix(X.head(50))))


def test_unseen_category_levels_are_reported_not_silently_scored(small_world, trained) -> None:
    _, _, episodes = small_world
    suite, _, bundle = trained
    X = bundle.features(episodes.head(3).assign(payer=["martian", "commercial", "medicaid"]))
    from models.scoring import ClassifierScorer

    assert ClassifierScorer(suite.response).unknown_levels(X) == {"payer": ["martian"]}


def test_numeric_matrix_codes_unseen_and_missing_categories_as_missing(small_world, trained) -> None:
    """The fast code lookup agrees with the booster's own reading of a frame with odd categories (plain strings
    too, not only categoricals): unseen and missing levels both become NaN, never another level's code."""
    _, programs, episodes = small_world
    suite, _, _ = trained
    X = episode_features(programs, episodes).head(40).copy()
    X["payer"] = X["payer"].astype(object)
    X.loc[X.index[:3], "payer"] = "martian"
    X.loc[X.index[3:6], "payer"] = None
    X.loc[X.index[6:9], "region"] = np.nan
    matrix = suite.dropout.matrix(X)
    payer = list(suite.dropout.feature_names_in_).index("payer")
    assert np.isnan(matrix[:6, payer]).all() and not np.isnan(matrix[6:, payer]).any()
    np.testing.assert_allclose(suite.dropout.booster_.predict(suite.dropout.prepared(X)),
                               suite.dropout.booster_.predict(matrix))


def test_scoring_keeps_no_state_on_the_classifier_and_a_pickled_one_scores_the_same(small_world, trained) -> None:
    import pickle

    _, programs, episodes = small_world
    suite, _, _ = trained
    X = episode_features(programs, episodes).head(20)
    state = set(suite.dropout.__dict__)
    before = suite.dropout.predict_proba(X)
    assert set(suite.dropout.__dict__) == state
    restored = pickle.loads(pickle.dumps(suite.dropout))
    np.testing.assert_array_equal(restored.predict_proba(X), before)
