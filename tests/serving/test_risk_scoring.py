"""`serving.risk.score` (arrays, one pass over the trees per model) against the reference path: the bundle's
feature frame, predict_proba and the row-by-row explanation."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.bundle import UnknownProgramError
from serving import risk
from serving.problems import ProblemError
from serving.risk_batching import score_together
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


def _bodies(episode_rows: list[dict[str, Any]]) -> list[RiskCreate]:
    """Five requests of 1-7 episodes with different numbers of factors; the same episode ids recur across them."""
    rows = [dict(row) for row in episode_rows[:20]]
    rows[3]["region"] = rows[8]["age"] = None
    sizes, tops = (1, 3, 7, 2, 1), (3, 1, 10, 5, 3)
    bodies, start = [], 0
    for size, top in zip(sizes, tops, strict=True):
        chunk = [{**row, "episode_id": f"e{i}"} for i, row in enumerate(rows[start : start + size])]
        bodies.append(RiskCreate.model_validate({"episodes": chunk, "top_factors": top}))
        start += size
    return bodies


def test_requests_scored_together_answer_exactly_as_scored_alone(champion: Any, episode_rows: list[dict[str, Any]]
                                                                 ) -> None:
    bodies = _bodies(episode_rows)
    alone = [risk.score(champion, body).model_dump_json().encode() for body in bodies]
    assert score_together(champion, bodies) == alone


def test_a_refused_request_in_a_batch_gets_its_own_refusal_and_the_others_their_answers(
        champion: Any, episode_rows: list[dict[str, Any]]) -> None:
    bodies = _bodies(episode_rows)
    unknown = RiskCreate.model_validate({"episodes": [{**episode_rows[0], "program_id": "P-NOT-SERVED"}]})
    unseen_rows = [dict(episode_rows[1]), {**episode_rows[2], "payer": "martian"}]
    unseen = RiskCreate.model_validate({"episodes": unseen_rows})
    answers = score_together(champion, [bodies[0], unknown, bodies[2], unseen])
    assert answers[0] == risk.score(champion, bodies[0]).model_dump_json().encode()
    assert answers[2] == risk.score(champion, bodies[2]).model_dump_json().encode()
    assert isinstance(answers[1], UnknownProgramError)
    assert isinstance(answers[3], ProblemError)
    assert [e["field"] for e in answers[3].errors or []] == ["body.episodes[1].payer"]  # its own position


def test_concurrent_requests_share_one_scoring_pass(champion: Any, episode_rows: list[dict[str, Any]],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import serving.risk_batching as batching
    from serving.offload import Offload

    bodies = _bodies(episode_rows)
    passes: list[int] = []
    together = batching.score_together

    def counted(loaded: Any, batch: list[RiskCreate]) -> list[bytes | BaseException]:
        passes.append(len(batch))
        return together(loaded, batch)

    monkeypatch.setattr(batching, "score_together", counted)
    offload = Offload(2)

    async def all_at_once() -> list[bytes]:
        batcher = batching.RiskBatcher(offload)
        return list(await asyncio.gather(*(batcher.score(champion, body) for body in bodies)))

    try:
        answers = asyncio.run(all_at_once())
    finally:
        offload.close()
    assert answers == [risk.score(champion, body).model_dump_json().encode() for body in bodies]
    assert passes == [len(bodies)]
