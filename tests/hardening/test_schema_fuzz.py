"""Schema fuzzing: schemathesis generates requests from the app's own OpenAPI document, for every operation, once
per role key, and checks that no answer is a 5xx, an undocumented status or content type, or a body that violates
the documented schema, and that invalid bodies are refused. In-process against the ASGI app, derandomized; the
same run over HTTP against a real uvicorn is test_live_schema_fuzz.py (shared code in fuzzing.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.python.asgi import shutdown_lifespans

from serving.app import create_app
from tests.hardening.fuzzing import ROLES, fuzz_every_operation, fuzzed_settings, schemathesis_config
from tests.serving.conftest import VERSION, provided

POSITIVE_EXAMPLES = int(os.environ.get("CAREALLOC_FUZZ_POSITIVE", "50"))
NEGATIVE_EXAMPLES = int(os.environ.get("CAREALLOC_FUZZ_NEGATIVE", "20"))
"""Per operation and role key: 3 x (50 + 20) = 210 generated cases per operation that takes a body (operations
without inputs have exactly one case). Generation costs ~0.1 s a case here, so this is what fits the CI budget;
set the variables higher for a deeper run."""


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, keys: Any, trained: Any) -> Iterator[Any]:
    """One app (lifespan run by schemathesis) with rate limits high enough never to answer 429 here."""
    root: Path = tmp_path_factory.mktemp("fuzz")
    champion = provided(trained[2], VERSION)
    app = create_app(fuzzed_settings(root, keys), loader=lambda *, allow_cache: champion)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=schemathesis_config())
    yield app, schema
    shutdown_lifespans()


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_survives_fuzzing(role: str, fuzzed: Any, keys: Any) -> None:
    app, schema = fuzzed
    fuzz_every_operation(schema, app.openapi(), role, keys[role][0], POSITIVE_EXAMPLES, NEGATIVE_EXAMPLES)
    assert app.state.holder.current is not None  # the service is still up and serving
