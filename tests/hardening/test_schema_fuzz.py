"""Schema fuzzing: schemathesis generates requests from the app's own OpenAPI document, for every operation, once
per role key, and checks that no answer is a 5xx, an undocumented status or content type, or a body that violates
the documented schema, and that invalid bodies are refused. In-process against the ASGI app, derandomized."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from serving.app import create_app
from serving.settings import ServiceSettings
from tests.serving.conftest import VERSION, provided

ROLES = ("allocator", "clinician", "data_scientist")
POSITIVE_EXAMPLES = int(os.environ.get("CAREALLOC_FUZZ_POSITIVE", "50"))
NEGATIVE_EXAMPLES = int(os.environ.get("CAREALLOC_FUZZ_NEGATIVE", "20"))
"""Per operation and role key: 3 x (50 + 20) = 210 generated cases per operation that takes a body (operations
without inputs have exactly one case). Generation costs ~0.1 s a case here, so this is what fits the CI budget;
set the variables higher for a deeper run."""
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""Statuses that count as refusing schema-violating data: schemathesis's default list plus 413, which is how an
array beyond its maxItems is refused once the body outgrows max_body_bytes (the size check runs first)."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, keys: Any, trained: Any) -> Iterator[Any]:
    """One app (lifespan run by schemathesis) with rate limits high enough never to answer 429 here."""
    root: Path = tmp_path_factory.mktemp("fuzz")
    service = ServiceSettings(data_dir=root, api_keys=tuple(record for _, record in keys.values()),
                              audit_url=f"sqlite:///{root / 'audit.db'}", tracking_uri="sqlite:///unused.db",
                              max_body_bytes=600_000, rate_limit_per_minute=1e6, rate_limit_burst=100_000)
    champion = provided(trained[2], VERSION)
    app = create_app(service, loader=lambda *, allow_cache: champion)
    config = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}})
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    yield app, schema
    shutdown_lifespans()


def _fuzz(operation: Any, mode: schemathesis.GenerationMode, key: str, examples: int) -> dict[int, int]:
    statuses: dict[int, int] = {}

    @given(case=operation.as_strategy(generation_mode=mode, headers={"X-API-Key": key}))
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None, print_blob=True,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call()
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS)

    run()
    return statuses


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_survives_fuzzing(role: str, fuzzed: Any, keys: Any) -> None:
    app, schema = fuzzed
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {f"{method.upper()} {path}" for path, ops in app.openapi()["paths"].items() for method in ops}
    assert {op.label for op in operations} == documented  # every documented operation is fuzzed, none skipped
    summary = {}
    started = time.perf_counter()
    for operation in operations:
        tick = time.perf_counter()
        positive = _fuzz(operation, schemathesis.GenerationMode.POSITIVE, keys[role][0], POSITIVE_EXAMPLES)
        negative = (_fuzz(operation, schemathesis.GenerationMode.NEGATIVE, keys[role][0], NEGATIVE_EXAMPLES)
                    if len(operation.body) else {})  # nothing to make invalid without a body
        summary[operation.label] = (positive, negative, round(time.perf_counter() - tick, 1))
        assert not any(status >= 500 for status in (*positive, *negative)), (operation.label, positive, negative)
    print(f"\n{role}: {time.perf_counter() - started:.1f} s; statuses per operation (positive, negative, seconds):")
    for label, counts in summary.items():
        print(f"  {label}: {counts}")
    assert app.state.holder.current is not None  # the service is still up and serving
