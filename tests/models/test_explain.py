"""SHAP factors in words: the sentence matches the sign and the patient's own values."""

from __future__ import annotations

from models.explain import explain


def test_top_factors_are_sentences_with_direction(small_world, trained) -> None:
    _, _, episodes = small_world
    suite, _, bundle = trained
    X = bundle.features(episodes.head(4))
    factors = explain(suite.dropout, X, "dropout", top=3)
    assert len(factors) == 4 and all(len(f) == 3 for f in factors)
    for row in factors:
        magnitudes = [abs(f.contribution) for f in row]
        assert magnitudes == sorted(magnitudes, reverse=True)
        for f in row:
            assert ("raises dropout risk" in f.text) == (f.contribution > 0)
    baseline = [f for row in factors for f in row if f.feature == "baseline_score"]
    for f in baseline:
        assert f.text.startswith("Baseline PHQ-9 of") or f.text.startswith("Baseline GAD-7 of")
