"""Schema fuzzing from outside: the checks of test_schema_fuzz.py, sent over HTTP to a real uvicorn listening on
127.0.0.1 (an ephemeral port), for every operation x every role key. The service is the test one (the session's
bundle as v7, the role keys of tests/serving/conftest.py) run by `uvicorn.Server` in a thread, so requests cross
a real socket, HTTP parser and server loop, which the in-process ASGI run skips.

Kept small by default: 30 positive + 10 negative cases per operation and role, about 36 s of fuzzing on two
shared cores (the bundle is the session's, trained once). The issue's target run, >= 300 examples per operation
and role:

    CAREALLOC_LIVE_FUZZ_POSITIVE=300 CAREALLOC_LIVE_FUZZ_NEGATIVE=300 pytest tests/hardening/test_live_schema_fuzz.py
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
import uvicorn

from serving.app import create_app
from tests.hardening.fuzzing import ROLES, fuzz_every_operation, fuzzed_settings, schemathesis_config
from tests.serving.conftest import VERSION, provided

POSITIVE_EXAMPLES = int(os.environ.get("CAREALLOC_LIVE_FUZZ_POSITIVE", "30"))
NEGATIVE_EXAMPLES = int(os.environ.get("CAREALLOC_LIVE_FUZZ_NEGATIVE", "10"))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, keys: Any, trained: Any) -> Iterator[tuple[str, Any]]:
    """The base URL of a running uvicorn and its app; the server is stopped (lifespan shut down) afterwards."""
    root: Path = tmp_path_factory.mktemp("live-fuzz")
    champion = provided(trained[2], VERSION)
    app = create_app(fuzzed_settings(root, keys), loader=lambda *, allow_cache: champion)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False,
                                           server_header=False, lifespan="on"))
    thread = threading.Thread(target=server.run, name="live-fuzz-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(30)
    assert not thread.is_alive(), "uvicorn did not stop"


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_survives_fuzzing_over_http(role: str, live: tuple[str, Any], keys: Any) -> None:
    base, app = live
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=schemathesis_config())
    with requests.Session() as session:  # kept-alive connections, as a real client would use
        fuzz_every_operation(schema, app.openapi(), role, keys[role][0], POSITIVE_EXAMPLES, NEGATIVE_EXAMPLES,
                             session=session)
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200  # still up and serving
