"""Settings of the HTTP service: the project's Settings plus where keys, audit records and the bundle cache live.

Everything reads from the environment (prefix CAREALLOC_), nothing touches the disk here. Unsafe set-ups are
refused rather than defaulted: there is no built-in API key, configured keys must be hashes (never plaintext),
and a service bound to a non-loopback address must say so explicitly.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.settings import Settings

Role = Literal["allocator", "clinician", "data_scientist"]
ROLES: tuple[Role, ...] = ("allocator", "clinician", "data_scientist")
KeyId = Annotated[str, Field(pattern=r"^[a-z0-9]{8,32}$")]
DEFAULT_MAX_BODY_BYTES = 2_000_000


class KeyRecord(BaseModel):
    """One API key as stored: an id (shown in audit records), its role and the SHA-256 of the full key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key_id: KeyId
    role: Role
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="hex SHA-256 of the whole key")]
    programs: tuple[Annotated[str, Field(min_length=1, max_length=100)], ...] | None = Field(
        None, description="Clinicians only: the programmes whose patients this key may score (None = all).")
    label: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _programs_only_for_clinicians(self) -> KeyRecord:
        if self.programs is not None and self.role != "clinician":
            raise ValueError("only clinician keys can be limited to programmes")
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServiceSettings(Settings):
    host: str = Field("127.0.0.1", min_length=1, description="Interface to bind; loopback unless allow_remote.")
    port: int = Field(8000, ge=1, le=65_535)
    allow_remote: bool = Field(False, description="Required to bind a non-loopback address (put TLS in front).")
    keys_file: Path | None = Field(None, description="JSON file of hashed keys; default data_dir/api_keys.json.")
    api_keys: tuple[KeyRecord, ...] = Field((), description="Hashed keys given in the environment (JSON list).")
    audit_url: str | None = Field(None, min_length=1,
                                  description="SQLAlchemy URL of the audit store; default SQLite (WAL) in data_dir.")
    bundle_cache_dir: Path | None = Field(None, description="Last champion bundle downloaded; default data_dir.")
    max_body_bytes: int = Field(DEFAULT_MAX_BODY_BYTES, ge=1_024, le=50_000_000, description=(
        "Larger bodies get a 413. The per-request item limits (pilot rows, risk episodes, programmes...) are set so "
        "that a full request fits the default; lowered, big requests meet this limit before theirs."))
    registry_retry_seconds: float = Field(30.0, gt=0, le=3_600,
                                          description="How often to retry loading a bundle when none is loaded.")
    registry_http_retries: int = Field(1, ge=0, le=10, description="MLflow HTTP retries per registry call.")
    registry_http_timeout: int = Field(10, ge=1, le=600, description="MLflow HTTP timeout in seconds.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    rate_limit_per_minute: float = Field(600.0, gt=0, le=1_000_000,
                                         description="Sustained requests per minute per API key (429 beyond).")
    rate_limit_burst: int = Field(60, ge=1, le=100_000,
                                  description="Requests one key may send at once before the per-minute rate applies.")
    audit_lock_timeout_seconds: float = Field(5.0, gt=0, le=60, description=(
        "How long a request waits for a locked SQLite audit store before it is refused with 503."))
    compute_workers: int = Field(0, ge=0, le=64, description=(
        "Worker processes for recommendations and scenarios, each holding the bundle; 0 runs them in the serving "
        "process (one core's worth under concurrent requests)."))
    compute_threads: int | None = Field(None, ge=1, le=256, description=(
        "Threads running the risk, recommendation and scenario work (or waiting on compute workers); requests "
        "beyond this many at once wait for a free thread. Default: one per compute worker, at least 2 -- the "
        "in-process work holds the GIL, and more threads contending for it cost CPU without adding speed "
        "(8 clients of 1-episode risk: 27.9 ms p50 with 2 threads, 30.3 ms with 16)."))
    session_minutes: int = Field(480, ge=5, le=7 * 24 * 60,
                                 description="Web pages: a sign-in lasts this long (in memory; a restart ends it).")
    session_cookie_secure: bool = Field(False, description="Mark the session cookie Secure: set it when TLS is in "
                                                           "front (browsers then send it over https only).")
    max_sessions: int = Field(10_000, ge=1, le=1_000_000, description="Oldest sign-ins are dropped beyond this.")
    mlflow_ui_url: str | None = Field(None, max_length=500, pattern=r"^https?://",
                                      description="Link shown on the models page (e.g. http://127.0.0.1:5000).")

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> ServiceSettings:
        if not self.allow_remote and not _is_loopback(self.host):
            raise ValueError(f"host {self.host} is not a loopback address; set CAREALLOC_ALLOW_REMOTE=true "
                             "only behind TLS")
        ids = [k.key_id for k in self.api_keys]
        if len(ids) != len(set(ids)):
            raise ValueError("api_keys repeat a key_id")
        return self

    @property
    def resolved_compute_threads(self) -> int:
        return self.compute_threads or max(2, self.compute_workers)

    @property
    def resolved_keys_file(self) -> Path:
        return self.keys_file or self.data_dir / "api_keys.json"

    @property
    def resolved_audit_url(self) -> str:
        return self.audit_url or f"sqlite:///{(self.data_dir / 'audit.db').resolve()}"

    @property
    def resolved_bundle_cache_dir(self) -> Path:
        return self.bundle_cache_dir or self.data_dir / "bundle_cache"
