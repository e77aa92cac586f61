"""Faults: a corrupted or incompatible champion artifact (refused, the loaded one keeps serving), reloads while
requests are in flight (none fails).

The registry being unreachable at start-up (the cached bundle is served) is tests/serving/test_registry.py; the
audit store's faults are tests/hardening/test_audit_faults.py.
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from serving.registry import load_champion
from serving.settings import ServiceSettings
from tests.serving.conftest import hostile_pickle, provided

FORECAST = {"programs": [{"program_id": "P001", "multiples": [0.8, 1.0, 1.2]}]}


def counting_loader(champion: Any) -> tuple[list[bool], Any]:
    loads: list[bool] = []

    def loader(*, allow_cache: bool) -> Any:
        loads.append(allow_cache)
        return champion

    return loads, loader


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, trained: Any) -> dict[str, Any]:
    """An MLflow store with v1 (good), v2 (python_model.pkl overwritten after registration), v3 (registered with
    no python_function flavour), v4 (python_model.pkl replaced by one that runs code when unpickled, MLmodel as
    registered) and v5 (no digest recorded)."""
    import mlflow
    from mlflow import MlflowClient

    from tracking.registry import CareAllocPyfunc, record_digest

    root = tmp_path_factory.mktemp("faulty-registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("faults", artifact_location=(root / "artifacts").as_uri())
    client = MlflowClient(uri, uri)
    model_ids = {}
    for version in ("1", "2", "3", "4", "5"):
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.pyfunc.log_model(name="model", python_model=CareAllocPyfunc(trained[2]),
                                           registered_model_name="carealloc", pip_requirements=["carealloc"])
        assert str(info.registered_model_version) == version
        model_ids[version] = info.model_id

    def artifact(version: str, name: str) -> Path:
        found = [p for p in (root / "artifacts").rglob(name) if model_ids[version] in str(p)]
        assert len(found) == 1, found
        return found[0]

    for version in ("1", "2", "4"):
        record_digest(client, "carealloc", version)
    artifact("2", "python_model.pkl").write_bytes(b"\x80\x04not a pickle at all")
    mlmodel = artifact("3", "MLmodel")
    spec = yaml.safe_load(mlmodel.read_text())
    spec["flavors"] = {"someone_elses_flavor": {"version": "9"}}
    mlmodel.write_text(yaml.safe_dump(spec))
    record_digest(client, "carealloc", "3")  # registered like this: the digest matches, loading fails
    marker = root / "unpickled"
    artifact("4", "python_model.pkl").write_bytes(hostile_pickle(marker))
    client.set_registered_model_alias("carealloc", "champion", "1")
    return {"uri": uri, "client": client, "marker": marker}


@pytest.mark.parametrize(("bad", "why"), [("2", "the digest did not match"), ("3", "could not be loaded ("),
                                         ("4", "the digest did not match"), ("5", "has no recorded digest")])
def test_corrupted_incompatible_or_unverified_champion_is_refused_and_the_old_one_stays(
        registry: dict[str, Any], make_client: Any, settings: ServiceSettings, auth: Any, bad: str, why: str
) -> None:
    client: Any = registry["client"]
    cache = settings.data_dir / "cache"
    client.set_registered_model_alias("carealloc", "champion", "1")
    real = settings.model_copy(update={"tracking_uri": registry["uri"], "bundle_cache_dir": cache})

    def start() -> Any:  # the real loader: MLflow registry with the disk copy, as `carealloc serve` has it
        return make_client(loader=partial(load_champion, real), service_settings=real)

    service = start()
    assert service.get("/readyz").json()["model_version"] == "1"

    client.set_registered_model_alias("carealloc", "champion", bad)
    try:
        reload = service.post("/v1/admin/reload", headers=auth("data_scientist"))
        assert reload.status_code == 503, reload.text
        assert reload.json()["type"].endswith("champion-refused")
        assert f"champion v{bad} could not be loaded" in reload.json()["detail"] and why in reload.json()["detail"]
        assert "still serving v1" in reload.json()["detail"]
        assert not registry["marker"].exists(), "a pickle that did not match its digest was unpickled"
        assert service.get("/readyz").json()["model_version"] == "1"
        answer = service.post("/v1/forecasts", headers=auth("allocator"), json=FORECAST)
        assert answer.status_code == 200 and answer.json()["model_version"] == "1"
        assert not (cache / "carealloc" / f"v{bad}").exists(), "the refused artifact was kept in the cache"

        # A process starting now refuses the bad champion too and serves the last good copy, saying why.
        restarted = start()
        ready = restarted.get("/readyz").json()
        assert ready["model_version"] == "1" and ready["source"] == "cache"
        assert f"champion v{bad} could not be loaded" in ready["note"]
        assert not registry["marker"].exists(), "a pickle that did not match its digest was unpickled"
    finally:
        client.set_registered_model_alias("carealloc", "champion", "1")


def test_reloads_under_load_fail_no_request(make_client: Any, champion: Any, auth: Any, settings: Any,
                                            episode_rows: list[dict[str, Any]]) -> None:
    versions = iter(str(v) for v in range(7, 1000))
    # the hammering's volume depends on how long ten reloads take, so the per-key rate limit is lifted out of the way
    unlimited = settings.model_copy(update={"rate_limit_per_minute": 1_000_000, "rate_limit_burst": 100_000})
    client = make_client(loader=lambda *, allow_cache: provided(champion.bundle, next(versions)),
                         service_settings=unlimited)
    stop = threading.Event()
    failures: list[tuple[str, int]] = []
    counts = {"requests": 0, "reloads": 0, "since_reload": 0}
    lock = threading.Lock()
    settled = threading.Event()  # set once two requests have finished since the last reload
    calls = [("POST", "/v1/forecasts", "allocator", FORECAST),
             ("GET", "/v1/programs", "allocator", None),
             ("POST", "/v1/patients/risk", "clinician", {"episodes": episode_rows[:5]})]

    def hammer(offset: int) -> None:
        i = offset
        while not stop.is_set():
            method, path, role, body = calls[i % len(calls)]
            response = client.request(method, path, headers=auth(role), json=body)
            with lock:
                counts["requests"] += 1
                counts["since_reload"] += 1
                if counts["since_reload"] >= 2:
                    settled.set()
                if response.status_code != 200:
                    failures.append((path, response.status_code))
            i += 1

    workers = [threading.Thread(target=hammer, args=(n,)) for n in range(6)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(10):
            reload = client.post("/v1/admin/reload", headers=auth("data_scientist"))
            assert reload.status_code == 200 and reload.json()["changed"] is True
            with lock:
                counts["reloads"] += 1
                counts["since_reload"] = 0
                settled.clear()
            # let requests run on the new bundle before the next swap, however slow the machine is today
            assert settled.wait(120), counts
    finally:
        stop.set()
        for worker in workers:
            worker.join(60)
    assert counts["requests"] >= 20, counts
    assert failures == [], failures[:10]
    assert client.get("/readyz").json()["model_version"] == "17"
