"""Process entry points: `serve(settings)` for `carealloc serve`, `app_factory` for `uvicorn --factory`.

`serve` sets every connection limit from the settings (serving/http_protocol.py says which and why). Started as
`uvicorn --factory serving.run:app_factory`, add `--http serving.http_protocol:GuardedHttpToolsProtocol` (header
limits at their defaults) and `--timeout-keep-alive` / `--limit-concurrency` to have the same.
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from serving.app import create_app
from serving.http_protocol import guarded_protocol
from serving.logs import configure_logging
from serving.settings import ServiceSettings


def _registry_timeouts(settings: ServiceSettings) -> None:
    """Bound how long an unreachable registry can delay start-up (MLflow retries for minutes by default)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(settings.registry_http_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(settings.registry_http_timeout))


def app_factory() -> FastAPI:
    settings = ServiceSettings()
    configure_logging(settings.log_level)
    _registry_timeouts(settings)
    return create_app(settings)


def serve(settings: ServiceSettings) -> None:
    """Uvicorn on settings.host:port (127.0.0.1:8000 by default); models load in the lifespan."""
    import uvicorn

    configure_logging(settings.log_level)
    _registry_timeouts(settings)
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, access_log=False, log_config=None,
                server_header=False, http=guarded_protocol(settings.header_timeout_seconds, settings.max_header_bytes),
                timeout_keep_alive=settings.keep_alive_seconds, limit_concurrency=settings.max_connections)
