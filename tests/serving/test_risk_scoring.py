"""`serving.risk.score` (arrays, one pass over the trees per model) against the reference path: the bundle's
feature frame, predict_proba and the row-by-row explanation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from serving import risk
from serving.problems import ProblemError
from serving.schemas import RiskCreate
from tests.models.test_explain import reference_factors


@pytest.mark.parametrize("top", [1, 3, 10])
def test_score_equals_the_reference_path(champion: Any, episode_rows: list[dict[str, Any]], top: int) -> None:
    rows = [dict(row) for row in episode_rows[:60]]
    rows[0]["region"] = rows[1]["sex"] = rows[2]["age"] = rows[3]["deprivation_decile"] = None
    rows[4]["period"] = "2031-Q1"  # after the stored data: scored at current funding
    request = RiskCreate.model_validate({"episodes": rows, "top_factors": top})
    body = risk.score(champion, request)

    bundle, suite = champion.bundle, champion.bundle.suite
    X = bundle.features(pd.DataFrame([e.model_dump(exclude=risk.UNUSED_FIELDS) for e in request.episodes]))
    dropout = suite.dropout.predict_proba(X)[:, 1]
    non_response = 1.0 - suite.response.predict_proba(X)[:, 1]
    why_dropout = reference_factors(suite.dropout, X, "dropout", top)
    why_non_response = reference_factors(suite.response, X, "non-response", top, invert=True)
    assert [e.ref for e in body.episodes] == [r["episode_id"] for r in rows]
    assert body.base_rates == bundle.base_rates and body.model_version == champion.version
    np.testing.assert_allclose([e.dropout.risk for e in body.episodes], dropout, rtol=0, atol=1e-9)
    np.testing.assert_allclose([e.non_response.risk for e in body.episodes], non_response, rtol=0, atol=1e-9)
    for episode, want_dropout, want_non_response in zip(body.episodes, why_dropout, why_non_response, strict=True):
        for got, want in ((episode.dropout.factors, want_dropout), (episode.non_response.factors, want_non_response)):
            assert [(f.feature, f.value, f.text) for f in got] == [(w[0], w[1], w[3]) for w in want]
            np.testing.assert_allclose([f.contribution for f in got], [w[2] for w in want], rtol=0, atol=1e-9)


def test_unseen_categories_are_refused_by_field_and_position(champion: Any, episode_rows: list[dict[str, Any]]
                                                             ) -> None:
    rows = [dict(row) for row in episode_rows[:3]]
    rows[1]["payer"] = "martian"
    rows[2]["diagnosis"] = "unheard-of"
    with pytest.raises(ProblemError) as refused:
        risk.score(champion, RiskCreate.model_validate({"episodes": rows}))
    fields = [e["field"] for e in refused.value.errors or []]
    assert fields == ["body.episodes[1].payer", "body.episodes[2].diagnosis"]
    assert "martian" not in str(refused.value.errors) and "unheard-of" not in str(refused.value.errors)
