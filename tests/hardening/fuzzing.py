"""What the schema fuzz tests share: the service they fuzz, the checks, and one run over every operation for a key.

Used in-process over ASGI (test_schema_fuzz.py) and over HTTP against a real uvicorn (test_live_schema_fuzz.py),
so both apply the same checks to the same service set-up.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from serving.settings import ROLES, KeyRecord, ServiceSettings

__all__ = ["ROLES", "fuzz_every_operation", "fuzzed_settings", "schemathesis_config"]

REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
"""Statuses that count as refusing schema-violating data: schemathesis's default list plus 413, which is how an
array beyond its maxItems is refused once the body outgrows max_body_bytes (the size check runs first)."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]


def fuzzed_settings(root: Path, keys: dict[str, tuple[str, KeyRecord]]) -> ServiceSettings:
    """The test service's settings with rate limits high enough never to answer 429 here."""
    return ServiceSettings(data_dir=root, api_keys=tuple(record for _, record in keys.values()),
                           audit_url=f"sqlite:///{root / 'audit.db'}", tracking_uri="sqlite:///unused.db",
                           max_body_bytes=600_000, rate_limit_per_minute=1e6, rate_limit_burst=100_000)


def schemathesis_config() -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}})


def _fuzz(operation: Any, mode: schemathesis.GenerationMode, key: str, examples: int,
          call: dict[str, Any]) -> dict[int, int]:
    statuses: dict[int, int] = {}

    @given(case=operation.as_strategy(generation_mode=mode, headers={"X-API-Key": key}))
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None, print_blob=True,
              phases=[Phase.explicit, Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call(**call)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        case.validate_response(response, checks=CHECKS)

    run()
    return statuses


def fuzz_every_operation(schema: Any, documented: dict[str, Any], role: str, key: str, positive: int, negative: int,
                         **call: Any) -> None:
    """Positive then negative cases for every operation with this key (`call` goes to `case.call`, e.g. a session):
    no 5xx and no check failing; every documented operation is fuzzed, none skipped."""
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {f"{method.upper()} {path}" for path, ops in documented["paths"].items() for method in ops}
    assert {op.label for op in operations} == labels
    summary = {}
    started = time.perf_counter()
    for operation in operations:
        tick = time.perf_counter()
        valid = _fuzz(operation, schemathesis.GenerationMode.POSITIVE, key, positive, call)
        invalid = (_fuzz(operation, schemathesis.GenerationMode.NEGATIVE, key, negative, call)
                   if len(operation.body) else {})  # nothing to make invalid without a body
        summary[operation.label] = (valid, invalid, round(time.perf_counter() - tick, 1))
        assert not any(status >= 500 for status in (*valid, *invalid)), (operation.label, valid, invalid)
    print(f"\n{role}: {time.perf_counter() - started:.1f} s; statuses per operation (positive, negative, seconds):")
    for label, counts in summary.items():
        print(f"  {label}: {counts}")
