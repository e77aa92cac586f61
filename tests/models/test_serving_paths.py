"""The fast serving paths against the reference ones: same features, same risk, same SHAP values.

Serving scores from plain arrays (no pandas frame) with one pass over the trees per model; training and the
pyfunc model score from frames with `predict_proba`. These pin that both give the same numbers.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd

from features.build import EPISODE_FEATURES, episode_features
from models.funding_slope import FUNDING_COLUMN
from models.scoring import BundleScorer, ClassifierScorer


def _as_objects(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    frame = pd.DataFrame({c: columns[c] for c in EPISODE_FEATURES})
    return frame.astype(object).where(frame.notna(), None)


def test_serving_features_equal_training_features(small_world, trained) -> None:
    """An episode of the stored data gets, through the bundle one at a time and as a batch, exactly the features
    training computed for it."""
    _, programs, episodes = small_world
    _, _, bundle = trained
    sample = episodes.sample(40, random_state=3)
    at_training = episode_features(programs, episodes).loc[sample.index].reset_index(drop=True)
    expected = _as_objects({c: at_training[c].to_numpy(dtype=object) for c in EPISODE_FEATURES})
    request = {c: sample[c].to_numpy(dtype=object) for c in sample.columns}
    pd.testing.assert_frame_equal(_as_objects(bundle.feature_columns(request)), expected)
    one_by_one = pd.concat([_as_objects(bundle.feature_columns({c: v[i:i + 1] for c, v in request.items()}))
                            for i in range(len(sample))], ignore_index=True)
    pd.testing.assert_frame_equal(one_by_one, expected)
    served = bundle.features(sample).reset_index(drop=True)
    pd.testing.assert_frame_equal(_as_objects({c: served[c].to_numpy(dtype=object) for c in EPISODE_FEATURES}),
                                  expected)


def test_matrix_from_arrays_equals_matrix_from_frame(small_world, trained) -> None:
    _, _, episodes = small_world
    suite, _, bundle = trained
    sample = episodes.head(50).assign(payer=["martian", None, *episodes["payer"].head(48)])
    columns = bundle.feature_columns(sample)
    frame = bundle.features(sample)
    for model in (suite.dropout, suite.response):
        scorer = ClassifierScorer(model)
        np.testing.assert_array_equal(model.matrix(columns), model.matrix(frame))
        np.testing.assert_array_equal(scorer.matrix(columns), model.matrix(frame))
        assert scorer.unknown_levels(columns) == scorer.unknown_levels(frame) == {"payer": ["martian"]}
        assert scorer.unknown_levels(columns, scorer.matrix(columns)) == {"payer": ["martian"]}
        assert scorer.unknown_levels(columns.copy() | {"payer": columns["payer"][2:3]},
                                     scorer.matrix({c: v[2:3] for c, v in columns.items()})) == {}


def test_one_pass_risk_equals_predict_proba(small_world, trained) -> None:
    """The risk from summed SHAP contributions through the calibration equals predict_proba's, and the
    contributions are LightGBM's, the funding slope's term added on its column."""
    _, _, episodes = small_world
    suite, _, bundle = trained
    sample = episodes.sample(300, random_state=5)
    columns, frame = bundle.feature_columns(sample), bundle.features(sample)
    for model in (suite.dropout, suite.response):
        assert model.calibrator_ is not None
        probability, contributions = ClassifierScorer(model).probability_and_contributions(columns)
        np.testing.assert_allclose(probability, model.predict_proba(frame)[:, 1], rtol=0, atol=1e-9)
        trees = model.booster_.predict(model.prepared(frame), pred_contrib=True)
        assert model.funding_slope is not None  # the default: the slope's term rides on the funding column
        reference = model.with_offset(model.matrix(frame), trees)
        np.testing.assert_allclose(contributions, reference, rtol=0, atol=1e-9)
        funding = list(model.feature_names_in_).index(FUNDING_COLUMN)
        np.testing.assert_allclose(np.delete(contributions, funding, axis=1), np.delete(trees, funding, axis=1),
                                   rtol=0, atol=1e-9)


def test_scorer_features_equal_the_bundles_and_the_bundle_pickles_without_look_ups(small_world, trained) -> None:
    """The scorer's kept programme-period table gives the features the bundle builds afresh; the bundle and its
    estimators pickle (what MLflow logs) with their declared fields only."""
    _, _, episodes = small_world
    _, _, bundle = trained
    sample = episodes.head(10)
    scorer = BundleScorer(bundle)
    pd.testing.assert_frame_equal(_as_objects(scorer.feature_columns(sample)),
                                  _as_objects(bundle.feature_columns(sample)))
    restored = pickle.loads(pickle.dumps(bundle))
    assert set(restored.__dict__) == set(bundle.__dict__)
    assert not [k for k in restored.suite.response.__dict__ if k.startswith("_")]
    pd.testing.assert_frame_equal(_as_objects(restored.feature_columns(sample)),
                                  _as_objects(scorer.feature_columns(sample)))


def test_calibration_is_bit_for_bit_the_isotonic_predict(trained) -> None:
    suite, _, _ = trained
    for model in (suite.dropout, suite.response):
        cal = model.calibrator_
        edges = np.r_[cal.X_thresholds_, np.nextafter(cal.X_thresholds_, 1.0), np.nextafter(cal.X_thresholds_, 0.0)]
        values = np.r_[np.random.default_rng(0).random(2_000), edges, 0.0, 1.0, cal.X_min_ - 0.01, cal.X_max_ + 0.01]
        np.testing.assert_array_equal(model.calibrated(values), cal.predict(values))


def test_models_fitted_on_the_same_features_share_one_matrix(small_world, trained) -> None:
    import copy

    suite, _, _ = trained
    assert suite.dropout.same_inputs(suite.response)
    other = copy.deepcopy(suite.response)
    other.categories_["payer"] = [*other.categories_["payer"], "new-payer"]
    assert not suite.dropout.same_inputs(other)


def test_a_bundle_scorer_builds_every_look_up_a_request_reads(trained) -> None:
    _, _, bundle = trained
    scorer = BundleScorer(pickle.loads(pickle.dumps(bundle)))
    assert scorer.periods.rows
    for model in (scorer.response, scorer.dropout):
        assert model.tables is not None and set(model.levels) == set(model.model.categories_)
