"""`carealloc keys create|list|revoke` on the service's keys file: hashes only on disk, plaintext shown once."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from carealloc.cli import app
from serving.keys import create_demo_keys, read_keys_file
from serving.security import Keyring
from serving.settings import ServiceSettings


@pytest.fixture
def keys_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAREALLOC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CAREALLOC_KEYS_FILE", raising=False)
    return tmp_path / "api_keys.json"


def test_create_list_revoke(keys_env: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--role", "clinician", "--programs", "P001", "--programs", "P002",
                                  "--label", "ward 3"])
    both = runner.invoke(app, ["keys", "create", "--role", "clinician", "--programs", "P001,P002"])
    assert both.exit_code == 0 and read_keys_file(keys_env)[-1].programs == ("P001", "P002")
    runner.invoke(app, ["keys", "revoke", read_keys_file(keys_env)[-1].key_id])
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip().splitlines()[-1]
    assert plaintext.startswith("ca_") and plaintext not in keys_env.read_text()
    (record,) = read_keys_file(keys_env)
    assert (record.role, record.programs, record.label) == ("clinician", ("P001", "P002"), "ward 3")
    principal = Keyring(read_keys_file(keys_env)).verify(plaintext)
    assert principal is not None and principal.role == "clinician"

    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and record.key_id in listed.stdout and "P001,P002" in listed.stdout
    assert "ward 3" in listed.stdout and plaintext not in listed.stdout

    assert runner.invoke(app, ["keys", "revoke", record.key_id]).exit_code == 0
    assert read_keys_file(keys_env) == ()
    again = runner.invoke(app, ["keys", "revoke", record.key_id])
    assert again.exit_code == 1 and "no key" in again.stderr


def test_demo_keys_keep_created_ones(keys_env: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["keys", "create", "--role", "allocator"]).exit_code == 0
    create_demo_keys(ServiceSettings())
    create_demo_keys(ServiceSettings())
    roles = sorted(r.role for r in read_keys_file(keys_env) if r.label != "demo")
    assert roles == ["allocator"] and len(read_keys_file(keys_env)) == 4


def test_keys_from_the_environment_are_listed_as_such(keys_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from serving.keys import new_key

    _, record = new_key("data_scientist", label="ops")
    monkeypatch.setenv("CAREALLOC_API_KEYS", json.dumps([record.model_dump(mode="json", exclude_none=True)]))
    listed = CliRunner().invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and f"{record.key_id}  data_scientist" in listed.stdout
    assert "from CAREALLOC_API_KEYS" in listed.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--role", "admin"], "is not a role"),
    (["--role", "allocator", "--programs", "P001"], "only clinician keys can be limited to programmes"),
])
def test_bad_keys_are_refused(keys_env: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["keys", "create", *args])
    assert result.exit_code == 2 and message in result.stderr
    assert not keys_env.exists()
