"""Security headers on every kind of answer, no CORS for other origins, per-key rate limits answered with 429."""

from __future__ import annotations

import re
from typing import Any

import pytest

from serving.headers import CSP
from serving.ratelimit import RateLimiter


def assert_secured(response: Any) -> None:
    headers = response.headers
    assert headers["content-security-policy"].startswith("default-src 'self'"), response.request.url
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in headers
    assert "access-control-allow-credentials" not in headers


def test_every_kind_of_answer_carries_the_security_headers(client: Any, auth: Any) -> None:
    answers = [
        client.get("/healthz"), client.get("/readyz"), client.get("/metrics", headers=auth("data_scientist")),
        client.get("/openapi.json"),
        client.get("/v1/programs", headers=auth("allocator")),  # 200
        client.get("/v1/programs"),  # 401
        client.post("/v1/patients/risk", headers=auth("allocator"), json={}),  # 403
        client.get("/v1/nowhere", headers=auth("allocator")),  # 404
        client.post("/v1/recommendations", headers=auth("allocator"), json={"budget": -1}),  # 422
        client.post("/v1/recommendations", headers={**auth("allocator"), "content-type": "application/json"},
                    content=b"[" * 700_000),  # 413
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 401, 403, 404, 422, 413]
    for answer in answers:
        assert_secured(answer)
    assert answers[0].headers["content-security-policy"].encode() == CSP


def test_cross_origin_requests_get_no_cors_grant(client: Any, auth: Any) -> None:
    evil = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key"}
    preflight = client.options("/v1/recommendations", headers=evil)
    assert preflight.status_code in (401, 405) and "access-control-allow-origin" not in preflight.headers
    answer = client.get("/v1/programs", headers={**auth("allocator"), "Origin": "https://evil.example"})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers
    assert_secured(answer)


@pytest.mark.parametrize(("page", "bundle"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_docs_pages_load_nothing_from_other_origins(client: Any, page: str, bundle: str) -> None:
    docs = client.get(page)
    assert docs.status_code == 200
    policy = docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "*" not in policy and "http" not in policy
    assert policy.startswith("default-src 'self'") and "script-src" not in policy  # scripts: this origin only
    assert re.findall(r"(?:https?:)?//", docs.text) == []  # every URL on the page is this service's
    assert "<script>" not in docs.text  # no inline script: the policy would block it
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert f"/docs-assets/{bundle}" in sources and "/static/api-docs.js" in sources
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200 and len(asset.content) > 0, source
    assert client.get(f"/docs-assets/{bundle}").headers["content-type"].startswith(("text/javascript",
                                                                                    "application/javascript"))


@pytest.fixture
def limited(make_client: Any, settings: Any) -> Any:
    return make_client(service_settings=settings.model_copy(update={"rate_limit_per_minute": 1.0,
                                                                    "rate_limit_burst": 3}))


def test_a_key_over_its_limit_gets_429_with_retry_after_and_is_audited(limited: Any, auth: Any) -> None:
    answers = [limited.get("/v1/programs", headers=auth("allocator")) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    refused = answers[3]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("rate-limited") and int(refused.headers["retry-after"]) >= 1
    assert_secured(refused)
    # Other keys have their own buckets; public routes are not limited.
    assert limited.get("/v1/programs", headers=auth("data_scientist")).status_code == 200
    assert all(limited.get("/healthz").status_code == 200 for _ in range(5))
    rows = limited.app.state.audit.rows()
    limited_rows = [r for r in rows if r["status"] == 429]
    assert len(limited_rows) == 2 and all(r["role"] == "allocator" and r["key_id"] for r in limited_rows)
    assert all(r["endpoint"] == "/v1/programs" for r in limited_rows)


def test_refused_request_has_no_effect(make_client: Any, settings: Any, champion: Any, auth: Any) -> None:
    loads: list[bool] = []

    def loader(*, allow_cache: bool) -> Any:
        loads.append(allow_cache)
        return champion

    client = make_client(loader=loader, service_settings=settings.model_copy(update={
        "rate_limit_per_minute": 1.0, "rate_limit_burst": 1}))
    assert client.post("/v1/admin/reload", headers=auth("data_scientist")).status_code == 200
    assert client.post("/v1/admin/reload", headers=auth("data_scientist")).status_code == 429
    assert loads == [True, False], "the refused reload ran"


def test_bucket_refills_at_the_configured_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert limiter.take("k") is None and limiter.take("k") is None
    assert limiter.take("k") == 1
    now[0] = 0.5
    assert limiter.take("k") == 1  # half a token back: still refused
    now[0] = 1.0
    assert limiter.take("k") is None
    now[0] = 100.0
    assert [limiter.take("k") for _ in range(3)] == [None, None, 1]  # never more than the burst
    assert limiter.take("other") is None
