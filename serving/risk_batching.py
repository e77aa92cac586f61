"""Risk requests that arrive together are scored together: one pass over features and trees for all their episodes.

Why: most of what scoring one episode costs is per call (column conversion, look-ups, array set-up, calibration),
not per episode (one request of 100 episodes costs ~16 times one of 1 episode, not 100 times). When clinicians'
requests overlap, scoring them as one batch spends that per-call part once, in one hand-off to a compute thread.
Only small requests are joined (BATCH_EPISODES). No request waits for others: a batch is whatever arrived while
the previous batch was being scored.

Each request's answer is exactly what scoring it alone gives -- every step is per episode (features, tree walks,
calibration, the order of factors; fewer factors are the first of more) -- and tests compare the two. Requests join
only others for the same loaded bundle. A batch in which any request is refused (unknown programme, a category the
model never saw) is scored request by request, so each refusal reaches its own request with its own positions.
Who may score which programme is checked per request before it gets here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from serving import risk
from serving.offload import Offload
from serving.schemas import EpisodeRiskPublic, RiskCreate, RiskPublic
from serving.state import LoadedBundle


@dataclass(eq=False)
class _Waiting:
    loaded: LoadedBundle
    body: RiskCreate
    answer: asyncio.Future[bytes] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


BATCH_EPISODES = 64
"""Requests join a batch while it holds at most this many episodes; larger requests are scored on their own, in
parallel with the batches: their per-call part is already small beside their episodes, and joined into one batch,
eight 100-episode requests would each wait for all of them (about 1.4x the p50 of scoring them apart)."""


class RiskBatcher:
    def __init__(self, offload: Offload, max_episodes: int = BATCH_EPISODES) -> None:
        self._offload = offload
        self._max_episodes = max_episodes
        self._waiting: list[_Waiting] = []
        self._draining: asyncio.Task[None] | None = None

    async def score(self, loaded: LoadedBundle, body: RiskCreate) -> bytes:
        """The request's response document (JSON bytes); raises what scoring it alone would raise."""
        if len(body.episodes) > self._max_episodes:
            return await self._offload.compute(_alone, loaded, body)
        waiting = _Waiting(loaded, body)
        self._waiting.append(waiting)
        if self._draining is None or self._draining.done():
            self._draining = asyncio.get_running_loop().create_task(self._drain())
        return await waiting.answer

    def _next_batch(self) -> list[_Waiting]:
        first = self._waiting[0]
        batch: list[_Waiting] = []
        left: list[_Waiting] = []
        size = 0
        for waiting in self._waiting:
            fits = size + len(waiting.body.episodes) <= self._max_episodes
            if waiting.loaded is first.loaded and fits:
                batch.append(waiting)
                size += len(waiting.body.episodes)
            else:
                left.append(waiting)
        self._waiting = left
        return batch

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._next_batch()
            try:
                answers = await self._offload.compute(score_together, batch[0].loaded, [w.body for w in batch])
            except Exception as exc:  # the hand-off itself failed (shut-down): every request of it learns so
                answers = [exc] * len(batch)
            for waiting, answer in zip(batch, answers, strict=True):
                if waiting.answer.done():  # its client went away
                    continue
                if isinstance(answer, BaseException):
                    waiting.answer.set_exception(answer)
                else:
                    waiting.answer.set_result(answer)


def score_together(loaded: LoadedBundle, bodies: list[RiskCreate]) -> list[bytes | BaseException]:
    """Each body's response document, or the exception scoring it alone raises."""
    if len(bodies) > 1:
        # built without validation: episode ids need only be unique within each request, not across them
        combined = RiskCreate.model_construct(episodes=[e for body in bodies for e in body.episodes],
                                              top_factors=max(body.top_factors for body in bodies))
        try:
            scored = risk.score(loaded, combined)
        except Exception:  # some request is refused: score each alone so the refusal is its own
            pass
        else:
            documents: list[bytes | BaseException] = []
            start = 0
            for body in bodies:
                episodes = scored.episodes[start : start + len(body.episodes)]
                start += len(body.episodes)
                part = RiskPublic(model_version=scored.model_version, base_rates=scored.base_rates,
                                  episodes=[_with_top(e, body.top_factors) for e in episodes])
                documents.append(part.model_dump_json().encode())
            return documents
    answers: list[bytes | BaseException] = []
    for body in bodies:
        try:
            answers.append(_alone(loaded, body))
        except Exception as exc:
            answers.append(exc)
    return answers


def _alone(loaded: LoadedBundle, body: RiskCreate) -> bytes:
    return risk.score(loaded, body).model_dump_json().encode()


def _with_top(episode: EpisodeRiskPublic, top: int) -> EpisodeRiskPublic:
    if len(episode.dropout.factors) <= top and len(episode.non_response.factors) <= top:
        return episode
    return episode.model_copy(update={
        "dropout": episode.dropout.model_copy(update={"factors": episode.dropout.factors[:top]}),
        "non_response": episode.non_response.model_copy(update={"factors": episode.non_response.factors[:top]})})
