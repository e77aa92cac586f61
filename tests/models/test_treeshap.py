"""TreeSHAP by look-up tables gives LightGBM's own pred_contrib values, on real episodes and on probe rows that
sit on thresholds, beside them, on every category and missing; and serving falls back to LightGBM when the
tables cannot be used."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from features.build import episode_features
from models import treeshap
from models.treeshap import TablesUnsupportedError, build_tables, checked_tables, probe_rows, tables_for


def test_tables_give_lightgbm_contributions_for_episodes_and_probes(small_world, trained) -> None:
    _, programs, episodes = small_world
    suite, _, _ = trained
    X = episode_features(programs, episodes).sample(500, random_state=4)
    for model in (suite.dropout, suite.response):
        tables = checked_tables(model.booster_)
        for rows in (model.matrix(X), probe_rows(tables, 3_000, seed=7), model.matrix(X.head(1))):
            np.testing.assert_allclose(tables.contributions(rows),
                                       model.booster_.predict(rows, pred_contrib=True), rtol=0, atol=1e-9)


def test_tables_handle_missing_values_deep_trees_and_stumps() -> None:
    """Learnt missing-value sides, numeric splits without missing values at training (LightGBM compares those
    as 0.0), categorical splits with unseen and missing codes, 31-leaf trees and single-leaf trees."""
    rng = np.random.default_rng(0)
    n = 3_000
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 12, n).astype(float), rng.random(n), rng.normal(size=n)])
    X[rng.random(n) < 0.2, 0] = np.nan
    y = ((np.nan_to_num(X[:, 0], nan=1.5) + (X[:, 1] % 3 == 0) + X[:, 2] + 0.5 * rng.normal(size=n)) > 1).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 31, "min_data_in_leaf": 5, "verbose": -1,
                         "cat_smooth": 1, "min_data_per_group": 5}, lgb.Dataset(X, y, categorical_feature=[1]),
                        num_boost_round=40)
    stump = lgb.train({"objective": "binary", "min_data_in_leaf": n, "verbose": -1}, lgb.Dataset(X, y),
                      num_boost_round=3)
    for model in (booster, stump):
        tables = checked_tables(model)
        probes = probe_rows(tables, 4_000, seed=1)
        probes[:50, 1] = 40.0  # a category code never seen
        for rows in (X[:500], probes):
            np.testing.assert_allclose(tables.contributions(rows), model.predict(rows, pred_contrib=True),
                                       rtol=0, atol=1e-9)


def test_too_large_tables_fall_back_to_lightgbm(small_world, trained, monkeypatch: pytest.MonkeyPatch) -> None:
    _, programs, episodes = small_world
    suite, _, _ = trained
    X = episode_features(programs, episodes).head(30)
    monkeypatch.setattr(treeshap, "MAX_TABLE_ENTRIES", 10)
    with pytest.raises(TablesUnsupportedError):
        build_tables(suite.dropout.booster_)
    assert tables_for(suite.dropout.booster_) is None
    from models.scoring import ClassifierScorer

    fresh = ClassifierScorer(suite.dropout)  # looks for tables, finds none: LightGBM explains
    probability, contributions = fresh.probability_and_contributions(X)
    assert fresh.tables is None
    np.testing.assert_allclose(contributions, suite.dropout.contributions(X), rtol=0, atol=1e-12)
    np.testing.assert_allclose(probability, suite.dropout.predict_proba(X)[:, 1], rtol=0, atol=1e-9)


def test_load_time_probes_visit_every_threshold_category_and_missing(trained) -> None:
    """The check that guards the served risk must see every split of every feature, not a random few of them."""
    suite, _, _ = trained
    for model in (suite.dropout, suite.response):
        tables = build_tables(model.booster_)
        probes = probe_rows(tables)
        for f in range(len(tables.numeric)):
            column = probes[:, f]
            assert np.isnan(column).any()
            if tables.numeric[f]:
                cuts = tables.cuts[tables.cut_start[f]:tables.cut_start[f + 1]]
                cuts = cuts[np.isfinite(cuts)]
                for near in (cuts, np.nextafter(cuts, np.inf), np.nextafter(cuts, -np.inf)):
                    assert np.isin(near, column).all(), f
            else:
                assert np.isin(np.arange(tables.n_bins[f]), column).all(), f
