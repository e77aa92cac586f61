"""Reload swaps the bundle atomically; readiness is 503 until a bundle is loaded."""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from serving.state import LoadedBundle
from tests.serving.conftest import provided


def slow_bundle(champion: LoadedBundle, version: str, entered: threading.Event, release: threading.Event
                ) -> LoadedBundle:
    """The champion under another version whose curve lookups wait until released."""
    loaded = provided(champion.bundle, version)
    bundle = loaded.bundle
    original = type(bundle).curve

    def curve(program_id: str, funding: Any) -> Any:
        entered.set()
        assert release.wait(30)
        return original(bundle, program_id, funding)

    bundle.curve = curve  # type: ignore[method-assign]
    return loaded


def test_requests_in_flight_finish_on_the_old_bundle(make_client: Any, champion: LoadedBundle, auth: Any) -> None:
    entered, release = threading.Event(), threading.Event()
    old = slow_bundle(champion, "1", entered, release)
    new = provided(champion.bundle, "2")
    queue = [old, new]
    client = make_client(loader=lambda *, allow_cache: queue.pop(0))
    results: dict[str, Any] = {}

    def in_flight() -> None:
        results["old"] = client.post("/v1/forecasts", headers=auth("allocator"),
                                     json={"programs": [{"program_id": "P001", "multiples": [1.0]}]})

    worker = threading.Thread(target=in_flight)
    worker.start()
    assert entered.wait(30), "the first request never reached the model"
    reload = client.post("/v1/admin/reload", headers=auth("data_scientist"))
    assert reload.status_code == 200 and reload.json()["previous_version"] == "1"
    assert reload.json()["model_version"] == "2" and reload.json()["changed"] is True
    after = client.get("/v1/models", headers=auth("allocator")).json()
    assert after["model_version"] == "2"
    release.set()
    worker.join(30)
    assert results["old"].status_code == 200
    assert results["old"].json()["model_version"] == "1"
    assert results["old"].headers["carealloc-model-version"] == "1"
    assert client.app.state.audit.rows()[0]["model_version"] == "1"


def test_failed_reload_keeps_serving_the_loaded_bundle(make_client: Any, champion: LoadedBundle, auth: Any) -> None:
    def loader(*, allow_cache: bool) -> LoadedBundle:
        if not allow_cache:
            raise ConnectionError("registry down")
        return champion

    client = make_client(loader=loader)
    response = client.post("/v1/admin/reload", headers=auth("data_scientist"))
    assert response.status_code == 503 and "still serving v7" in response.json()["detail"]
    assert client.get("/readyz").json()["model_version"] == "7"


def test_not_ready_until_a_bundle_loads(make_client: Any, settings: Any, champion: LoadedBundle, auth: Any) -> None:
    available = threading.Event()

    def loader(*, allow_cache: bool) -> LoadedBundle:
        if not available.is_set():
            raise ConnectionError("no registry and no cache")
        return champion

    quick = settings.model_copy(update={"registry_retry_seconds": 0.05})
    client = make_client(loader=loader, service_settings=quick)
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/models", headers=auth("allocator")).status_code == 503
    assert client.get("/healthz").status_code == 200
    available.set()
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the background retry never loaded the bundle"
        time.sleep(0.05)
    assert client.get("/v1/models", headers=auth("allocator")).json()["model_version"] == "7"


def test_holder_swaps_reference_not_contents(champion: LoadedBundle) -> None:
    from serving.state import BundleHolder

    holder = BundleHolder()
    first = copy.copy(champion)
    holder.load(lambda: first)
    taken = holder.current
    holder.load(lambda: provided(champion.bundle, "8"))
    assert taken is not None and taken.bundle is first.bundle and taken.version == "7"
    assert holder.current is not None and holder.current.version == "8"
