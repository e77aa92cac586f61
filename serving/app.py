"""`create_app(settings)`: the FastAPI application. Nothing is loaded at import or at construction; the lifespan
reads the keys, opens the audit store and loads the champion (after any worker fork)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Protocol

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from fastapi.responses import Response

from records.kpi_history import KpiHistory
from records.plans import PlanStore
from records.reviews import ReviewLog
from records.saved_scenarios import SavedScenarioStore
from serving import api_docs, openapi, pages, problems
from serving.audit import AuditStore
from serving.compute import ComputePool
from serving.keys import read_keys_file
from serving.logs import logger
from serving.metrics import ServiceMetrics
from serving.middleware import RequestGuard
from serving.offload import Offload
from serving.ratelimit import RateLimiter
from serving.registry import load_champion
from serving.risk_batching import RiskBatcher
from serving.routers import (
    admin,
    forecasts,
    health,
    models,
    patients,
    programs,
    recommendations,
    reports,
    review,
    saved_scenarios,
    scenarios,
)
from serving.routers import pilots as pilot_router
from serving.security import Keyring, authorize, route_rules
from serving.settings import ServiceSettings
from serving.state import BundleHolder, LoadedBundle
from serving.tally import RequestTally, flush_every


class ChampionLoader(Protocol):
    def __call__(self, *, allow_cache: bool) -> LoadedBundle: ...


class NoApiKeysError(RuntimeError):
    """The service refuses to start without any API key (there is no built-in one)."""


def keyring_from_settings(settings: ServiceSettings) -> Keyring:
    records = (*settings.api_keys, *read_keys_file(settings.resolved_keys_file))
    if not records:
        raise NoApiKeysError(f"no API keys: none in CAREALLOC_API_KEYS and no {settings.resolved_keys_file}; "
                             "run `carealloc demo` to create keys")
    return Keyring(records)


def _installed(app: FastAPI, loaded: LoadedBundle) -> None:
    app.state.metrics.loaded(loaded.version, loaded.source)
    logger().info("champion loaded", extra={"event": "load", "model_version": loaded.version,
                                            "source": loaded.source})


def _keep_trying(app: FastAPI, stop: threading.Event, every: float) -> None:
    """When start-up found no model, retry in the background until one loads (readyz says 503 meanwhile)."""
    holder: BundleHolder = app.state.holder
    while holder.current is None and not stop.wait(every):
        try:
            _, loaded = holder.load(app.state.startup_loader)
        except Exception as exc:
            holder.last_error = str(exc)
            logger().warning("still no champion", extra={"event": "load_failed", "error_type": type(exc).__name__})
        else:
            _installed(app, loaded)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: ServiceSettings = app.state.settings
    app.state.keyring = keyring_from_settings(settings)
    app.state.offload = Offload(settings.resolved_compute_threads)  # per lifespan: closing it ends its threads
    app.state.risk_batcher = RiskBatcher(app.state.offload)
    audit = AuditStore(settings.resolved_audit_url, settings.audit_lock_timeout_seconds,
                       settings.audit_retry_seconds)
    app.state.audit = await anyio.to_thread.run_sync(audit.create)
    stop = threading.Event()
    flusher = threading.Thread(target=flush_every, args=(app.state.tally, audit, settings.audit_tally_seconds, stop),
                               name="audit-tally", daemon=True)
    flusher.start()
    outcomes_url = settings.resolved_outcomes_url
    app.state.outcomes = await anyio.to_thread.run_sync(lambda: (KpiHistory(outcomes_url), PlanStore(outcomes_url)))
    app.state.reviews = await anyio.to_thread.run_sync(ReviewLog, outcomes_url)
    app.state.saved_scenarios = await anyio.to_thread.run_sync(SavedScenarioStore, outcomes_url)
    app.state.metrics.watch_reviews(app.state.reviews)
    holder: BundleHolder = app.state.holder
    try:
        _, loaded = await anyio.to_thread.run_sync(holder.load, app.state.startup_loader)
    except Exception as exc:
        holder.last_error = str(exc)
        logger().error("no champion at start-up; retrying in the background",
                       extra={"event": "load_failed", "error_type": type(exc).__name__})
        threading.Thread(target=_keep_trying, args=(app, stop, settings.registry_retry_seconds),
                         name="champion-retry", daemon=True).start()
    else:
        _installed(app, loaded)
    try:
        yield
    finally:
        stop.set()
        holder.close()
        app.state.offload.close()
        flusher.join()
        app.state.tally.flush(app.state.audit)
        app.state.audit.close()
        for store in (*app.state.outcomes, app.state.reviews, app.state.saved_scenarios):
            store.close()


def create_app(settings: ServiceSettings, *, loader: ChampionLoader | None = None) -> FastAPI:
    """The service; `loader(allow_cache=...)` provides bundles (default: the MLflow registry with a disk cache)."""
    app = FastAPI(
        title="carealloc", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,  # api_docs serves them
        # FastAPI's own OpenTelemetry off: /metrics and the JSON request log are this service's telemetry, its
        # per-request provider checks cost CPU on every request, and its "logs" would record validation failures
        # with their messages, which on patient endpoints could carry submitted values
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        summary="Funding-response forecasts, budget recommendations and patient risk from the champion models.",
        description="Every response names the model version it used. Errors are RFC 9457 problem documents. "
                    "Send an API key in the X-API-Key header.")
    source = loader or partial(load_champion, settings)
    app.state.settings = settings
    workers = settings.compute_workers
    app.state.holder = BundleHolder(
        partial(ComputePool, workers=workers, log_level=settings.log_level) if workers else None)
    app.state.metrics = ServiceMetrics()
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst)
    app.state.anonymous_limiter = RateLimiter(settings.anonymous_rate_limit_per_minute,
                                              settings.anonymous_rate_limit_burst)
    app.state.tally = RequestTally()
    app.state.startup_loader = partial(source, allow_cache=True)
    app.state.reload_loader = partial(source, allow_cache=False)
    problems.install(app)
    app.add_middleware(RequestGuard, max_body_bytes=settings.max_body_bytes,
                       body_timeout_seconds=settings.body_timeout_seconds)
    for module in (health, models, programs, forecasts, recommendations, scenarios, saved_scenarios, patients, admin,
                   review, reports):
        app.include_router(module.router)
    app.include_router(pilot_router.router)
    pages.install(app)  # web pages, their /static files and the session store
    api_docs.install(app)  # /docs and /redoc without a CDN

    # per-route volumes (patient risk included): a data_scientist key unless the deployment makes them public
    @app.get("/metrics", response_class=Response, include_in_schema=False, response_model=None,
             dependencies=[] if settings.metrics_public else [Depends(authorize)])
    def metrics(request: Request) -> Response:
        registry: ServiceMetrics = request.app.state.metrics
        return Response(registry.render(), media_type=registry.content_type)

    route_rules(app.routes)  # every route must have an access rule; raises KeyError otherwise
    openapi.install(app)
    return app
