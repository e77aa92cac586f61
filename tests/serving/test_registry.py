"""Start-up from the MLflow registry by fixed version; an unreachable registry falls back to the disk copy."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.registry import MANIFEST
from serving.settings import ServiceSettings
from tests.serving.conftest import hostile_pickle


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory, trained: Any) -> str:
    """A throwaway MLflow store holding the session's bundle as carealloc v1 @champion."""
    import mlflow
    from mlflow import MlflowClient

    from tracking.registry import CareAllocPyfunc, record_digest

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("serving-tests", artifact_location=(root / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.pyfunc.log_model(name="model", python_model=CareAllocPyfunc(trained[2]),
                                       registered_model_name="carealloc", pip_requirements=["carealloc"])
    client = MlflowClient(uri, uri)
    record_digest(client, "carealloc", str(info.registered_model_version))  # as register_bundle does
    client.set_registered_model_alias("carealloc", "champion", str(info.registered_model_version))
    return uri


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def start(settings: ServiceSettings) -> Iterator[Any]:
    clients: list[TestClient] = []

    def build(**update: Any) -> TestClient:
        client = TestClient(create_app(settings.model_copy(update=update)), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def test_startup_resolves_champion_to_a_fixed_version_and_caches_it(registry: str, start: Any, auth: Any,
                                                                    settings: ServiceSettings,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cache = settings.data_dir / "cache"
    client = start(tracking_uri=registry, bundle_cache_dir=cache)
    ready = client.get("/readyz").json()
    assert ready == {"model_version": "1", "status": "ready", "source": "registry", "stale": False, "note": None}
    models = client.get("/v1/models", headers=auth("allocator")).json()
    assert models["model_version"] == "1" and "champion" in models["aliases"] and models["stale"] is False
    assert (cache / MANIFEST).is_file() and (cache / "carealloc" / "v1" / "MLmodel").is_file()
    recommendation = client.post("/v1/recommendations", headers=auth("allocator"), json={
        "budget": sum(p["current_funding"] for p in client.get("/v1/programs", headers=auth("allocator")).json()[
            "programs"])})
    assert recommendation.json()["provenance"]["model_version"] == "1"

    # The registry goes away: a new process starts from the cached copy and says so.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    offline = start(tracking_uri=f"http://127.0.0.1:{closed_port()}", bundle_cache_dir=cache)
    ready = offline.get("/readyz").json()
    assert ready["model_version"] == "1" and ready["source"] == "cache" and ready["stale"] is True
    assert "unavailable" in ready["note"] and "cached" in ready["note"]
    models = offline.get("/v1/models", headers=auth("allocator")).json()
    assert models["stale"] is True and models["source"] == "cache" and "cached" in models["note"]
    reload = offline.post("/v1/admin/reload", headers=auth("data_scientist"))
    assert reload.status_code == 503 and "still serving v1" in reload.json()["detail"]


def test_models_shows_the_aliases_the_registry_holds_now(registry: str, start: Any, auth: Any,
                                                        settings: ServiceSettings) -> None:
    from mlflow import MlflowClient

    client = start(tracking_uri=registry, bundle_cache_dir=settings.data_dir / "cache")
    assert "challenger" not in client.get("/v1/models", headers=auth("allocator")).json()["aliases"]
    registry_client = MlflowClient(registry, registry)
    registry_client.set_registered_model_alias("carealloc", "challenger", "1")
    try:
        aliases = client.get("/v1/models", headers=auth("allocator")).json()["aliases"]
        assert aliases == ["challenger", "champion"]  # no reload in between
    finally:
        registry_client.delete_registered_model_alias("carealloc", "challenger")
    assert client.get("/v1/models", headers=auth("allocator")).json()["aliases"] == ["champion"]


def test_no_registry_and_no_cache_means_not_ready(start: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    client = start(tracking_uri=f"http://127.0.0.1:{closed_port()}", bundle_cache_dir=tmp_path / "empty",
                   registry_retry_seconds=3600)
    response = client.get("/readyz")
    assert response.status_code == 503 and "no cached bundle" in response.json()["detail"]


def test_a_corrupted_cached_copy_is_downloaded_again_and_served_at_once(registry: str, start: Any,
                                                                        settings: ServiceSettings) -> None:
    cache = settings.data_dir / "cache"
    assert start(tracking_uri=registry, bundle_cache_dir=cache).get("/readyz").json()["source"] == "registry"
    pickled = cache / "carealloc" / "v1" / "python_model.pkl"
    good = pickled.read_bytes()
    pickled.write_bytes(b"\x80\x04not a pickle at all")  # a disk error, a half-finished copy

    restarted = start(tracking_uri=registry, bundle_cache_dir=cache, registry_retry_seconds=3600)
    ready = restarted.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["source"] == "registry" and ready.json()["model_version"] == "1"
    assert pickled.read_bytes() == good, "the cache was not refreshed from the registry"


def test_a_tampered_cached_copy_is_never_unpickled(registry: str, start: Any, settings: ServiceSettings,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cache = settings.data_dir / "cache"
    assert start(tracking_uri=registry, bundle_cache_dir=cache).get("/readyz").json()["source"] == "registry"
    marker = settings.data_dir / "ran"
    (cache / "carealloc" / "v1" / "python_model.pkl").write_bytes(hostile_pickle(marker))  # MLmodel untouched

    # The registry unreachable: the cached copy no longer matches the digest the manifest kept, so none is served.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    offline = start(tracking_uri=f"http://127.0.0.1:{closed_port()}", bundle_cache_dir=cache,
                    registry_retry_seconds=3600)
    refused = offline.get("/readyz")
    assert refused.status_code == 503 and "v1" in refused.json()["detail"]
    assert "digest did not match" in refused.json()["detail"]
    assert not marker.exists(), "the tampered pickle was unpickled"

    # The registry reachable: its digest refuses the cached copy, which is downloaded again and served.
    online = start(tracking_uri=registry, bundle_cache_dir=cache, registry_retry_seconds=3600)
    assert online.get("/readyz").json()["source"] == "registry"
    assert not marker.exists(), "the tampered pickle was unpickled"
