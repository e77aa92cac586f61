"""Unsafe set-ups are refused; keys are stored hashed and shown once; the episode schema follows the contract."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from features.contract import EPISODE_COLUMNS
from serving.app import NoApiKeysError, create_app
from serving.keys import create_demo_keys, read_keys_file
from serving.schemas import EpisodeIn
from serving.security import Keyring
from serving.settings import ServiceSettings


def test_defaults_are_loopback_and_keyless(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path)
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.api_keys == ()
    assert settings.resolved_audit_url.startswith("sqlite:///") and settings.resolved_audit_url.endswith("audit.db")


def test_service_refuses_to_start_without_keys(tmp_path: Path, champion: Any) -> None:
    app = create_app(ServiceSettings(data_dir=tmp_path), loader=lambda *, allow_cache: champion)
    with pytest.raises(NoApiKeysError), TestClient(app):
        pass


@pytest.mark.parametrize("update", [
    {"host": "0.0.0.0"},
    {"api_keys": [{"key_id": "abcdefgh1234", "role": "allocator", "sha256": "plaintext-secret"}]},
    {"api_keys": [{"key_id": "abcdefgh1234", "role": "allocator", "sha256": "0" * 64, "programs": ["P001"]}]},
    {"api_keys": [{"key_id": "abcdefgh1234", "role": "admin", "sha256": "0" * 64}]},
    {"max_body_bytes": 10},
])
def test_unsafe_settings_are_refused(tmp_path: Path, update: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ServiceSettings(data_dir=tmp_path, **update)


def test_remote_binding_needs_an_explicit_opt_in(tmp_path: Path) -> None:
    assert ServiceSettings(data_dir=tmp_path, host="0.0.0.0", allow_remote=True).host == "0.0.0.0"


def test_demo_keys_are_stored_hashed_and_work(tmp_path: Path, champion: Any) -> None:
    settings = ServiceSettings(data_dir=tmp_path, audit_url=f"sqlite:///{tmp_path / 'a.db'}")
    plaintexts = create_demo_keys(settings)
    assert set(plaintexts) == {"allocator", "clinician", "data_scientist"}
    stored = settings.resolved_keys_file.read_text()
    assert stat.S_IMODE(settings.resolved_keys_file.stat().st_mode) == 0o600
    assert all(key not in stored for key in plaintexts.values())
    keyring = Keyring(read_keys_file(settings.resolved_keys_file))
    for role, key in plaintexts.items():
        principal = keyring.verify(key)
        assert principal is not None and principal.role == role
        assert keyring.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    again = create_demo_keys(settings)
    assert len(json.loads(settings.resolved_keys_file.read_text())["keys"]) == 3
    assert Keyring(read_keys_file(settings.resolved_keys_file)).verify(plaintexts["allocator"]) is None
    with TestClient(create_app(settings, loader=lambda *, allow_cache: champion)) as client:
        assert client.get("/v1/models", headers={"X-API-Key": again["allocator"]}).status_code == 200


@pytest.mark.parametrize("key", ["", "ca_", "ca_x_y", "nonsense", "ca_" + "a" * 12 + "_" + "b" * 43, "_" * 50])
def test_malformed_keys_are_not_valid(key: str) -> None:
    assert Keyring([]).verify(key) is None


def test_episode_schema_follows_the_contract() -> None:
    fields = EpisodeIn.model_fields
    properties = EpisodeIn.model_json_schema()["properties"]
    outcome_columns = {"final_score", "dropped_out", "sessions_attended", "satisfaction", "patient_id"}
    for column in EPISODE_COLUMNS:
        assert column.name in fields, column.name
        required = fields[column.name].is_required()
        assert required == (column.required and column.name not in outcome_columns), column.name
        schema = properties[column.name]
        limits = next((s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"), schema)
        if column.minimum is not None:
            assert limits["minimum"] == column.minimum, column.name
        if column.maximum is not None:
            assert limits["maximum"] == column.maximum, column.name


def test_compute_threads_default_to_one_per_compute_worker_and_at_least_two(tmp_path: Path) -> None:
    assert ServiceSettings(data_dir=tmp_path).resolved_compute_threads == 2
    assert ServiceSettings(data_dir=tmp_path, compute_workers=6).resolved_compute_threads == 6
    assert ServiceSettings(data_dir=tmp_path, compute_workers=6, compute_threads=3).resolved_compute_threads == 3
