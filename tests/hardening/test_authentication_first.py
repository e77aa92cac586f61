"""Authentication before the body: refusals of a keyed caller are attributed to the key, anonymous callers get
401 (not 413 or 422) without a row each, and anonymous traffic is rate-limited per client address."""

from __future__ import annotations

from typing import Any

from serving.settings import ServiceSettings


def test_refusals_before_the_app_are_attributed_to_the_valid_key(client: Any, auth: Any) -> None:
    headers = {**auth("allocator"), "content-type": "application/json"}
    answers = [client.post("/v1/forecasts", headers=headers, content=b"{not json"),
               client.post("/v1/forecasts", headers=headers, content=b'{"programs": NaN}'),
               client.post("/v1/forecasts", headers=headers, content=b"[" + b"1," * 400_000 + b"1]")]
    assert [a.status_code for a in answers] == [422, 422, 413]
    rows = client.app.state.audit.rows()
    assert [r["status"] for r in rows] == [422, 422, 413]
    assert {r["endpoint"] for r in rows} == {"/v1/forecasts"}  # the route template, though the router never ran
    assert {(r["key_id"], r["role"]) for r in rows} == {(auth("allocator")["X-API-Key"].split("_")[1], "allocator")}


def test_anonymous_and_bad_key_callers_get_401_before_any_body_is_read(client: Any) -> None:
    cases = [({}, b"{not json"), ({}, b'{"programs": NaN}'), ({}, b"[" + b"1," * 400_000 + b"1]"),
             ({"X-API-Key": "ca_nosuchkey1_xxxxxxxx"}, b"{not json")]
    for extra, body in cases:
        answer = client.post("/v1/forecasts", headers={**extra, "content-type": "application/json"}, content=body)
        assert answer.status_code == 401, (extra, answer.text)
        assert answer.headers["www-authenticate"] == "ApiKey"
        assert answer.json()["type"].endswith("unauthenticated") and answer.json()["instance"] == "/v1/forecasts"
    assert client.get("/v1/no/such/route").status_code == 401  # without a key nothing about routes is revealed
    store = client.app.state.audit
    assert store.rows() == [], "anonymous refusals must not write a row each"
    assert client.app.state.tally.flush(store)
    counted = {(r["endpoint"], r["status"]): r["requests"] for r in store.tally_rows()}
    assert counted == {("/v1/forecasts", 401): 4, ("unmatched", 401): 1}


def test_anonymous_traffic_is_rate_limited_per_client(make_client: Any, settings: ServiceSettings,
                                                      auth: Any) -> None:
    client = make_client(service_settings=settings.model_copy(
        update={"anonymous_rate_limit_per_minute": 1, "anonymous_rate_limit_burst": 3}))
    statuses = [client.get("/v1/programs").status_code for _ in range(5)]
    assert statuses == [401, 401, 401, 429, 429]
    limited = client.get("/signin")  # public pages count against the same client budget
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert client.get("/healthz").status_code == 200  # probes are exempt
    assert client.get("/v1/programs", headers=auth("allocator")).status_code == 200  # keys have their own limit
