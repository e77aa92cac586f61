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
    audit_lock_timeout_seconds: float = Field(1.0, gt=0, le=60, description=(
        "How long a write waits for a locked SQLite audit store before its request is refused with 503 (a healthy "
        "write takes about a millisecond)."))
    audit_retry_seconds: float = Field(2.0, gt=0, le=300, description=(
        "After a failed audit write, requests are refused with 503 at once (Retry-After) for this long, then one "
        "is let through to try the store again."))
    audit_tally_seconds: float = Field(60.0, gt=0, le=3_600, description=(
        "How often the per-minute counts of health probes and anonymous refusals are written to the audit store."))
    anonymous_rate_limit_per_minute: float = Field(600.0, gt=0, le=1_000_000, description=(
        "Sustained requests per minute per client address without a valid key (429 beyond; health probes exempt)."
        " Behind a reverse proxy every client shares its address unless uvicorn trusts its X-Forwarded-For."))
    anonymous_rate_limit_burst: int = Field(120, ge=1, le=100_000,
                                            description="Anonymous requests one client address may send at once.")
    header_timeout_seconds: float = Field(10.0, gt=0, le=300, description=(
        "A connection that has not sent a request's whole header block this long after it opened (or after its "
        "first byte) is closed."))
    body_timeout_seconds: float = Field(30.0, gt=0, le=600, description=(
        "A request body that has not fully arrived this long after its headers gets a 408."))
    max_header_bytes: int = Field(32_768, ge=1_024, le=1_048_576, description=(
        "Request line plus headers; larger gets a 431 and the connection is closed."))
    keep_alive_seconds: int = Field(5, ge=1, le=300,
                                      description="An idle keep-alive connection is closed after this long.")
    max_connections: int = Field(1_000, ge=1, le=100_000, description=(
        "Open connections and requests in progress beyond this are answered 503 by uvicorn."))
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
    max_sessions: int = Field(10_000, ge=1, le=1_000_000, description=(
        "Sessions held at once, a last resort behind max_sessions_per_key: beyond it the oldest session of the key "
        "holding the most goes (a sign-in is refused with 503 rather than end the only session of another key)."))
    max_sessions_per_key: int = Field(20, ge=1, le=1_000_000, description=(
        "Sessions one key may hold at once (browsers, devices, people sharing it); a further sign-in with the key "
        "ends its own oldest session, never another key's (capped at max_sessions)."))
    public_origin: str | None = Field(None, max_length=300, pattern=r"^https?://[^/?#@\s]+$", description=(
        "The origin browsers see (e.g. https://carealloc.example.org) when a reverse proxy rewrites Host or "
        "terminates TLS; unsafe page requests must come from it. Default: the request's own scheme and Host."))
    signin_per_minute_per_client: int = Field(30, ge=1, le=100_000, description=(
        "Sign-in attempts one client address may make at once and then per minute, wrong keys included (429 "
        "beyond). Behind a reverse proxy every user shares the proxy's address unless uvicorn trusts its "
        "X-Forwarded-For."))
    signin_per_minute_per_key: int = Field(10, ge=1, le=100_000, description=(
        "Sign-ins one recognised key may make at once and then per minute, from any address (429 beyond)."))
    metrics_public: bool = Field(False, description=(
        "Serve /metrics without a key (for a scraper on a private network); otherwise it needs a data_scientist "
        "key: it shows request volumes per route, patient risk scoring included."))
    review_data_dir: Path | None = Field(None, description=(
        "Folder of the department's tables (programs and episodes in contract form) that POST /v1/review reads a "
        "quarter from, as `carealloc review --data` does, and where reports and the money objective find each payer "
        "contract's population (its contracts.json is used when a request gives none); unset, the API cannot run a "
        "review or measure contracts."))
    max_saved_scenarios_per_key: int = Field(200, ge=1, le=100_000, description=(
        "Saved scenarios one API key may keep (POST /v1/saved-scenarios answers 409 beyond; deleting one frees "
        "a place)."))
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description=(
        "ISO 4217 code (e.g. USD, EUR, GBP) the pages show funding in; the amounts themselves carry no currency, "
        "so this only labels them."))
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
