"""Serving fixtures: the session's trained bundle behind a fake loader, keys per role, an app per test."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.keys import new_key
from serving.settings import KeyRecord, ServiceSettings
from serving.state import LoadedBundle

VERSION = "7"
LIMITED_PROGRAMS = ("P001",)


@pytest.fixture(scope="session")
def keys() -> dict[str, tuple[str, KeyRecord]]:
    """Plaintext and stored record per key name: one per role plus a clinician limited to P001."""
    made = {role: new_key(role) for role in ("allocator", "clinician", "data_scientist")}  # type: ignore[arg-type]
    made["limited_clinician"] = new_key("clinician", programs=LIMITED_PROGRAMS)
    return made


@pytest.fixture
def auth(keys: dict[str, tuple[str, KeyRecord]]) -> Callable[[str], dict[str, str]]:
    return lambda name: {"X-API-Key": keys[name][0]}


def provided(bundle: Any, version: str) -> LoadedBundle:
    copied = copy.copy(bundle)
    copied.model_version = version
    return LoadedBundle(copied, version, "carealloc", "provided", ("champion",))


class WritesMarker:
    """Unpickling this runs code: it writes `marker` (what a tampered python_model.pkl could do instead)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('unpickled')",)


def hostile_pickle(marker: Path) -> bytes:
    import pickle

    return pickle.dumps(WritesMarker(marker))


@pytest.fixture
def champion(trained: Any) -> LoadedBundle:
    return provided(trained[2], VERSION).prepared()  # as the holder installs it: curves and scorer built


@pytest.fixture
def settings(tmp_path: Path, keys: dict[str, tuple[str, KeyRecord]]) -> ServiceSettings:
    return ServiceSettings(data_dir=tmp_path, api_keys=tuple(record for _, record in keys.values()),
                           audit_url=f"sqlite:///{tmp_path / 'audit.db'}", tracking_uri="sqlite:///unused.db",
                           max_body_bytes=600_000)


@pytest.fixture
def make_client(settings: ServiceSettings, champion: LoadedBundle) -> Iterator[Callable[..., TestClient]]:
    """Build and start an app; `loader` defaults to one always returning the session's bundle as v7."""
    opened: list[TestClient] = []

    def build(loader: Any = None, service_settings: ServiceSettings | None = None) -> TestClient:
        app = create_app(service_settings or settings, loader=loader or (lambda *, allow_cache: champion))
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return client

    yield build
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()


@pytest.fixture(scope="session")
def episode_rows(small_world: Any, trained: Any) -> list[dict[str, Any]]:
    """Contract-form episodes of known programmes (synthetic), as JSON-ready dicts without outcomes."""
    _, _, episodes = small_world
    frame = episodes.head(300).drop(columns=["final_score", "dropped_out", "sessions_attended", "satisfaction"])
    rows = []
    for row in frame.to_dict("records"):
        rows.append({k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()})
    return rows
