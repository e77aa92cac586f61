"""API keys on disk: generated once, stored only as SHA-256 hashes, plaintext shown to the caller a single time.

A key looks like ``ca_<key_id>_<secret>``: the id is public (it names the key in audit records), the secret is
32 random bytes, so a plain SHA-256 is enough (nothing to brute-force) and keeps per-request checks cheap.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
from pathlib import Path

from serving.settings import ROLES, KeyRecord, Role, ServiceSettings

PREFIX = "ca"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key(role: Role, programs: tuple[str, ...] | None = None, label: str | None = None) -> tuple[str, KeyRecord]:
    """(plaintext key to hand out once, the hashed record to store)."""
    key_id = secrets.token_hex(6)
    plaintext = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return plaintext, KeyRecord(key_id=key_id, role=role, sha256=hash_key(plaintext), programs=programs, label=label)


def read_keys_file(path: Path) -> tuple[KeyRecord, ...]:
    if not path.is_file():
        return ()
    payload = json.loads(path.read_text(encoding="utf-8"))
    return tuple(KeyRecord.model_validate(item) for item in payload.get("keys", []))


def write_keys_file(path: Path, records: tuple[KeyRecord, ...] | list[KeyRecord]) -> None:
    """Atomic write, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"keys": [r.model_dump(mode="json", exclude_none=True) for r in records]}, indent=2)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".keys-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(body)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add_key(settings: ServiceSettings, role: Role, programs: tuple[str, ...] | None = None,
            label: str | None = None) -> tuple[str, KeyRecord]:
    """A new key appended to the keys file; returns its plaintext (never stored) and its record."""
    path = settings.resolved_keys_file
    plaintext, record = new_key(role, programs=programs, label=label)
    write_keys_file(path, (*read_keys_file(path), record))
    return plaintext, record


def revoke_key(settings: ServiceSettings, key_id: str) -> bool:
    """Remove the key `key_id` from the keys file; False when there is no such key. A running service keeps the
    keys it started with, so a revoked key stops working when the service restarts."""
    path = settings.resolved_keys_file
    records = read_keys_file(path)
    kept = tuple(r for r in records if r.key_id != key_id)
    if len(kept) == len(records):
        return False
    write_keys_file(path, kept)
    return True


def create_demo_keys(settings: ServiceSettings) -> dict[Role, str]:
    """One fresh key per role in the keys file (earlier demo keys are replaced, other keys kept); returns the
    plaintexts."""
    path = settings.resolved_keys_file
    kept = [r for r in read_keys_file(path) if r.label != "demo"]
    plaintexts: dict[Role, str] = {}
    for role in ROLES:
        plaintexts[role], record = new_key(role, label="demo")
        kept.append(record)
    write_keys_file(path, kept)
    return plaintexts
