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


def reference_factors(model, X, outcome: str, top: int, invert: bool = False) -> list[list[tuple[str, str, float,
                                                                                                 str]]]:
    """The explanation as first written, one frame row at a time: what the vectorised one must reproduce."""
    import numpy as np

    from models.explain import DESCRIPTIONS

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
            if value is None or (isinstance(value, float) and np.isnan(value)):
                label = name.replace("_", " ") + " not recorded"
            elif name == "at_caseness":
                label = "starting at clinical caseness" if float(str(value)) >= 0.5 else (
                    "starting below clinical caseness")
            else:
                label = DESCRIPTIONS.get(name, name.replace("_", " ") + " {value}").format(
                    value=value, instrument=row.get("instrument", "score"), case="")
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
