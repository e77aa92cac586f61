"""Compute workers (settings.compute_workers > 0): the same answers and problems as in-process, a reload starts new
workers while requests that took the old bundle still end on it, and a dead worker does not take the service down."""

from __future__ import annotations

import os
import pickle
import signal
from pathlib import Path
from typing import Any

import pytest

from allocation import InfeasibleConstraintsError
from serving.problems import ProblemError
from serving.settings import ServiceSettings
from serving.state import LoadedBundle
from tests.serving.conftest import provided

RECOMMENDATION = {"max_change": 0.3, "groups": [{"column": "region", "value": "rural", "min_share": 0.1}]}


def _pid_and_version(loaded: LoadedBundle) -> tuple[int, str]:
    return os.getpid(), loaded.version


@pytest.fixture
def importable_here(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers unpickle `_pid_and_version` by importing this module; pytest's importlib mode leaves the checkout
    off sys.path, and spawned workers start from the parent's sys.path, so put it there."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))


def _without_timing(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "solver"}


def _pooled(settings: ServiceSettings, workers: int) -> ServiceSettings:
    return settings.model_copy(update={"compute_workers": workers})


def test_problems_cross_the_process_boundary_whole() -> None:
    error = ProblemError(422, "unseen-category", "values the model never saw in: payer", title="Odd",
                         errors=[{"field": "body.episodes[1].payer", "message": "m", "type": "t"}],
                         headers={"Retry-After": "5"}, conflicts=["a", "b"])
    again = pickle.loads(pickle.dumps(error))
    assert (again.status, again.slug, again.detail, again.title, again.errors, again.headers, again.extensions) == (
        error.status, error.slug, error.detail, error.title, error.errors, error.headers, error.extensions)
    infeasible = pickle.loads(pickle.dumps(InfeasibleConstraintsError(["minimums add up to 2 but the budget is 1"])))
    assert infeasible.conflicts == ["minimums add up to 2 but the budget is 1"]


def test_workers_answer_exactly_as_the_serving_process(make_client: Any, settings: ServiceSettings,
                                                       auth: Any) -> None:
    inline = make_client()
    pooled = make_client(service_settings=_pooled(settings, 2))
    pool = pooled.app.state.holder.current.compute
    assert pool is not None and pool.workers == 2 and inline.app.state.holder.current.compute is None
    some = [p["program_id"] for p in inline.get("/v1/programs", headers=auth("allocator")).json()["programs"]][:2]
    calls = [
        ("/v1/recommendations", "allocator", RECOMMENDATION, 200),
        ("/v1/scenarios", "allocator", {"scenarios": {"more": {some[0]: 1.0e5}, "less": {some[1]: 1.0e4}}}, 200),
        ("/v1/recommendations", "allocator", {"budget": 1000.0, "programs": {"P001": {"min": 500000.0}}}, 422),
        ("/v1/scenarios", "allocator", {"scenarios": {"x": {"P999": 1.0}}}, 404),
    ]
    for path, role, body, status in calls:
        here = inline.post(path, headers=auth(role), json=body)
        there = pooled.post(path, headers=auth(role), json=body)
        assert here.status_code == there.status_code == status, (path, here.text, there.text)
        assert _without_timing(here.json()) == _without_timing(there.json()), path


def test_reload_starts_new_workers_and_the_old_bundle_still_answers_in_process(
        make_client: Any, settings: ServiceSettings, champion: LoadedBundle, auth: Any, importable_here: None) -> None:
    versions = iter(["7", "8"])
    client = make_client(loader=lambda *, allow_cache: provided(champion.bundle, next(versions)),
                         service_settings=_pooled(settings, 1))
    old = client.app.state.holder.current
    worker_pid, version = old.run(_pid_and_version)
    assert version == "7" and worker_pid != os.getpid()

    answer = client.post("/v1/admin/reload", headers=auth("data_scientist")).json()
    assert answer["model_version"] == "8"
    new = client.app.state.holder.current
    assert new.compute is not old.compute and old.compute.closed and not new.compute.closed
    # a request that took the old bundle before the swap ends on it, here, since its workers take no more work
    assert old.run(_pid_and_version) == (os.getpid(), "7")
    assert new.run(_pid_and_version)[1] == "8"
    assert client.post("/v1/recommendations", headers=auth("allocator"), json=RECOMMENDATION).json()[
        "model_version"] == "8"


def test_workers_that_cannot_start_leave_the_bundle_serving_in_process(
        make_client: Any, settings: ServiceSettings, champion: LoadedBundle, auth: Any, monkeypatch: Any) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise OSError("no processes for you")

    monkeypatch.setattr("serving.app.ComputePool", refuse)
    client = make_client(service_settings=_pooled(settings, 2))
    loaded = client.app.state.holder.current
    assert loaded is not None and loaded.compute is None
    assert client.post("/v1/recommendations", headers=auth("allocator"), json=RECOMMENDATION).status_code == 200


def test_a_dead_worker_leaves_the_service_answering_in_process(make_client: Any, settings: ServiceSettings,
                                                               auth: Any, importable_here: None) -> None:
    client = make_client(service_settings=_pooled(settings, 1))
    loaded = client.app.state.holder.current
    worker_pid, _ = loaded.run(_pid_and_version)
    assert worker_pid != os.getpid()  # ran in a worker (never kill the test process itself)
    os.kill(worker_pid, signal.SIGKILL)
    # work already handed to the dead worker is answered 503 (not rerun here: it may be what killed the worker);
    # whether this first request got there depends on when the pool notices the death
    first = client.post("/v1/recommendations", headers=auth("allocator"), json=RECOMMENDATION)
    assert first.status_code in (200, 503)
    if first.status_code == 503:
        assert first.headers["retry-after"] == "1" and first.json()["type"].endswith("worker-lost")
    answer = client.post("/v1/recommendations", headers=auth("allocator"), json=RECOMMENDATION)
    assert answer.status_code == 200 and answer.json()["model_version"] == loaded.version
    assert loaded.compute.closed
    assert loaded.run(_pid_and_version) == (os.getpid(), loaded.version)
