"""The funding slope the classifiers can boost from: recovered from within-programme variation, signed by the
mechanism, and part of every prediction and explanation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from features.build import FUNDING_FEATURES, episode_features, period_outcomes
from models.funding_slope import fit_funding_slope
from models.scoring import ClassifierScorer
from models.suite import fit_suite
from models.within_slope import within_programme_slopes

PARAMS = {"n_estimators": 40, "learning_rate": 0.1, "num_leaves": 7, "min_child_samples": 40, "funding_slope": True}


def test_within_programme_slope_ignores_the_confounder() -> None:
    """Better programmes get more money (a steep slope across programmes); within each, the slope is 0.3."""
    rng = np.random.default_rng(3)
    program = np.repeat([f"P{i}" for i in range(12)], 8)
    quality = np.repeat(rng.normal(0, 1, 12), 8)
    x = 2.0 * quality + rng.normal(0, 0.2, len(program))
    z = 3.0 * quality + 0.3 * (x - 2.0 * quality) + rng.normal(0, 0.01, len(program))
    fitted = within_programme_slopes(program, np.full(len(program), "m"), x, z, np.ones(len(program)), 2.0)
    assert fitted.slopes["m"] == pytest.approx(0.3, abs=0.02)
    # The known sign: a negative within slope is cut to zero, and direction -1 keeps slopes <= 0.
    assert within_programme_slopes(program, np.full(len(program), "m"), x, -z, np.ones(len(program)), 2.0
                                   ).slopes["m"] == 0.0
    assert within_programme_slopes(program, np.full(len(program), "m"), x, -z, np.ones(len(program)), 2.0,
                                   direction=-1).slopes["m"] == pytest.approx(-0.3, abs=0.02)
    # Direction 0 leaves the sign to the data (a programme's dropout rate, which money can raise or lower).
    for sign in (1, -1):
        unsigned = within_programme_slopes(program, np.full(len(program), "m"), x, sign * z, np.ones(len(program)),
                                           2.0, direction=0)
        assert unsigned.slopes["m"] == pytest.approx(sign * 0.3, abs=0.02)
        assert unsigned.pooled == pytest.approx(sign * 0.3, abs=0.02)


def test_slopes_have_the_mechanism_sign(small_world) -> None:
    _, programs, episodes = small_world
    outcomes = period_outcomes(episodes)
    response = fit_funding_slope(programs, outcomes, "response", 1)
    dropout = fit_funding_slope(programs, outcomes, "dropout", -1)
    assert set(response.slopes) == set(programs["modality"])
    assert all(s >= 0 for s in response.slopes.values()) and all(s <= 0 for s in dropout.slopes.values())
    assert set(response.centres) == set(programs["program_id"])


@pytest.fixture(scope="module")
def sloped(small_world):
    _, programs, episodes = small_world
    return fit_suite(programs, episodes, PARAMS, seed=0)


def test_the_slope_is_in_every_prediction_and_explanation(small_world, sloped) -> None:
    _, programs, episodes = small_world
    X = episode_features(programs, episodes).sample(200, random_state=2).reset_index(drop=True)
    for model in (sloped.response, sloped.dropout):
        assert model.funding_slope is not None
        matrix = model.matrix(X)
        trees = np.asarray(model.booster_.predict(matrix, raw_score=True))
        offset = model.offset(matrix)
        assert np.abs(offset).max() > 0  # a slope of zero everywhere would test nothing
        np.testing.assert_allclose(model.raw_probability(X), expit(trees + offset), rtol=1e-12)
        contributions = model.contributions(X)
        np.testing.assert_allclose(contributions.sum(axis=1), trees + offset, atol=1e-9)
        p, fast = ClassifierScorer(model).probability_and_contributions(X)
        np.testing.assert_allclose(fast, contributions, atol=1e-9)
        np.testing.assert_allclose(p, model.predict_proba(X)[:, 1], atol=1e-9)


def test_monotone_in_funding_with_the_slope(small_world, sloped) -> None:
    _, programs, episodes = small_world
    X = episode_features(programs, episodes).sample(300, random_state=0).reset_index(drop=True)
    previous = None
    for shift in np.linspace(-1.0, 1.0, 9):
        moved = X.assign(**{c: X[c] + shift for c in FUNDING_FEATURES})
        now = pd.DataFrame({"ri": sloped.response.predict_proba(moved)[:, 1],
                            "drop": sloped.dropout.predict_proba(moved)[:, 1]})
        if previous is not None:
            assert (now["ri"] >= previous["ri"] - 1e-12).all()
            assert (now["drop"] <= previous["drop"] + 1e-12).all()
        previous = now


def test_on_by_default_and_off_when_asked(trained, small_world) -> None:
    suite, _, _ = trained
    assert suite.response.funding_slope is not None and suite.dropout.funding_slope is not None
    assert suite.params["funding_slope"] is True
    _, programs, episodes = small_world
    plain = fit_suite(programs, episodes, {**PARAMS, "funding_slope": False})
    assert plain.response.funding_slope is None and plain.dropout.funding_slope is None
