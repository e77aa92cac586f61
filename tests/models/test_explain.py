"""SHAP factors in words: the sentence matches the sign and the patient's own values."""

from __future__ import annotations

import numpy as np

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
        assert f.text.startswith(("Baseline PHQ-9 score of", "Baseline GAD-7 score of"))


def reference_factors(model, X, outcome: str, top: int, invert: bool = False) -> list[list[tuple[str, str, float,
                                                                                                 str]]]:
    """The explanation as first written, one frame row at a time: what the vectorised one must reproduce."""
    from models.explain import _describe

    values = model.contributions(X)[:, :-1]
    names = [str(c) for c in model.feature_names_in_]
    if invert:
        values = -values
    out = []
    for i in range(len(X)):
        row = X.iloc[i]
        factors = []
        for j in np.argsort(-np.abs(values[i]))[:top]:
            name, value = names[j], row[names[j]]
            label = _describe(name, value, row.get("instrument", "score"))  # the words: tested below
            direction = "raises" if values[i, j] > 0 else "lowers"
            factors.append((name, str(value), float(values[i, j]),
                            f"{label[0].upper()}{label[1:]} {direction} {outcome} risk"))
        out.append(factors)
    return out


def test_vectorised_factors_equal_the_row_by_row_reference(small_world, trained) -> None:
    _, _, episodes = small_world
    suite, _, bundle = trained
    sample = episodes.sample(80, random_state=2)
    sample.loc[sample.index[:4], "region"] = None
    sample.loc[sample.index[4:8], "age"] = None
    X = bundle.features(sample)
    for model, outcome, invert in ((suite.dropout, "dropout", False), (suite.response, "non-response", True)):
        for top in (1, 3, 10):
            got = [[(f.feature, f.value, f.contribution, f.text) for f in row]
                   for row in explain(model, X, outcome, top=top, invert=invert)]
            assert got == reference_factors(model, X, outcome, top, invert)


def test_factors_are_in_plain_words_with_scores_on_their_own_scale() -> None:
    from models.explain import _describe

    assert _describe("baseline_severity", 22 / 27, "PHQ-9") == "baseline PHQ-9 score of 22"
    assert _describe("baseline_severity", 0.5, "GAD-7") == "baseline GAD-7 score of 10"  # 10.5 -> 10 (half even)
    assert _describe("log_funding_per_referral", float(np.log1p(1234.0)), "PHQ-9") == (
        "the programme's funding of 1,234 per referral")
    assert _describe("program_id", "P005", "PHQ-9") == "programme P005"
    assert _describe("deprivation_decile", float("nan"), "PHQ-9") == "no deprivation decile recorded"


def test_every_label_a_model_gives_is_words_not_feature_names(small_world, trained) -> None:
    _, _, episodes = small_world
    suite, _, bundle = trained
    X = bundle.features(episodes.sample(200, random_state=3))
    labels = {f.label for model in (suite.dropout, suite.response) for row in explain(model, X, "x", top=40)
              for f in row}
    assert labels and all("_" not in label and " = " not in label and "log " not in label for label in labels)
    assert not any("of the scale" in label for label in labels)
    assert all(label[0].isupper() or label[0].isdigit() for label in labels), labels
