"""Sign-in abuse (issue 17, item 4): one key signing everyone else out, sign-in floods and login CSRF.

The probe that found it: 10,050 sign-ins with one key in 38 s evicted an allocator's session (a global cap of
10,000 sessions, oldest dropped first, and no sign-in rate limit), and `POST /signin` accepted a cross-site Origin.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from serving.principal import Principal
from serving.sessions import COOKIE, CSRF_HEADER, SessionStore
from tests.serving.test_pages import sign_in

GENEROUS = {"signin_per_minute_per_key": 10_000, "signin_per_minute_per_client": 10_000,
            "anonymous_rate_limit_per_minute": 10_000, "anonymous_rate_limit_burst": 10_000}
"""Limits high enough that a flood of sign-ins from one test client is refused by none of them."""
EVIL = "https://evil.example"


def _flood(client: Any, key: str, times: int) -> None:
    """`times` sign-ins with one key and no cookie, as a script would send them (each opens a new session)."""
    for _ in range(times):
        client.cookies.clear()
        assert client.post("/signin", data={"api_key": key}, follow_redirects=False).status_code == 303


@pytest.mark.parametrize("caps", [{"max_sessions": 50, "max_sessions_per_key": 5},
                                  {"max_sessions": 10, "max_sessions_per_key": 10}], ids=["per-key", "global"])
def test_one_key_signing_in_200_times_signs_no_one_else_out(make_client: Any, settings: Any, keys: Any,
                                                             caps: dict[str, int]) -> None:
    client = make_client(service_settings=settings.model_copy(update={**GENEROUS, **caps}))
    sign_in(client, keys, "allocator")
    allocator_cookie = client.cookies.get(COOKIE)
    _flood(client, keys["data_scientist"][0], 200)
    client.cookies.clear()
    client.cookies.set(COOKIE, allocator_cookie)
    assert client.get("/pages/allocator", follow_redirects=False).status_code == 200
    store: SessionStore = client.app.state.sessions
    assert store.sessions_of(keys["data_scientist"][1].key_id) == min(caps["max_sessions_per_key"],
                                                                      caps["max_sessions"] - 1)


def test_a_keys_own_oldest_session_goes_first() -> None:
    store = SessionStore(lifetime_seconds=60, max_sessions=100, max_per_key=2)
    one, two = Principal("aaaaaaaa", "allocator", None), Principal("bbbbbbbb", "clinician", None)
    theirs = store.open(two)
    first, second, third = (store.open(one) for _ in range(3))
    assert store.get(first.session_id) is None and store.get(second.session_id) == second
    assert store.get(third.session_id) == third and store.get(theirs.session_id) == theirs
    assert (store.sessions_of("aaaaaaaa"), store.sessions_of("bbbbbbbb"), len(store)) == (2, 1, 3)
    store.close(second.session_id)
    store.close(third.session_id)
    assert store.sessions_of("aaaaaaaa") == 0 and len(store) == 1


def test_global_cap_takes_from_the_key_holding_most_and_refuses_rather_than_evicting_a_peer() -> None:
    from serving.sessions import SessionsFullError

    store = SessionStore(lifetime_seconds=60, max_sessions=3, max_per_key=3)
    one, two, three = (Principal(c * 8, "allocator", None) for c in "abc")
    a1, a2 = store.open(one), store.open(one)
    b1 = store.open(two)
    b2 = store.open(two)  # a and b hold two each: the opener's own oldest goes
    assert store.get(b1.session_id) is None and {s.session_id for s in (a1, a2, b2)} == set(store._sessions)
    store.open(three)  # a holds the most: its oldest goes, not b's
    assert store.get(a1.session_id) is None and store.get(b2.session_id) == b2
    store.close(a2.session_id)
    store.open(Principal("eeeeeeee", "allocator", None))
    with pytest.raises(SessionsFullError):  # three keys with one session each would have to give one up
        store.open(Principal("dddddddd", "allocator", None))
    assert len(store) == 3 and store.sessions_of("dddddddd") == 0


def test_a_sign_in_that_would_end_another_keys_only_session_is_a_503(make_client: Any, settings: Any,
                                                                     keys: Any) -> None:
    client = make_client(service_settings=settings.model_copy(update={"max_sessions": 1}))
    sign_in(client, keys, "allocator")
    allocator_cookie = client.cookies.get(COOKIE)
    client.cookies.clear()
    refused = client.post("/signin", data={"api_key": keys["clinician"][0]}, follow_redirects=False)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "60"
    assert "Too many people are signed in" in refused.text and COOKIE not in refused.headers.get("set-cookie", "")
    client.cookies.set(COOKIE, allocator_cookie)
    assert client.get("/pages/allocator", follow_redirects=False).status_code == 200


def test_expired_sessions_do_not_count_against_the_caps() -> None:
    now = [0.0]
    store = SessionStore(lifetime_seconds=10, max_sessions=2, max_per_key=2, clock=lambda: now[0])
    one, two = Principal("aaaaaaaa", "allocator", None), Principal("bbbbbbbb", "clinician", None)
    store.open(one)
    store.open(one)
    now[0] = 11.0
    fresh = store.open(two)
    assert len(store) == 1 and store.sessions_of("aaaaaaaa") == 0 and store.get(fresh.session_id) == fresh


def test_the_n_plus_first_sign_in_from_one_client_gets_429_bad_keys_included(make_client: Any, settings: Any,
                                                                             keys: Any) -> None:
    client = make_client(service_settings=settings.model_copy(update={"signin_per_minute_per_client": 3}))
    answers = [client.post("/signin", data={"api_key": "ca_aaaaaaaaaaaa_wrong"}, follow_redirects=False)
               for _ in range(3)]
    answers.append(client.post("/signin", data={"api_key": keys["allocator"][0]}, follow_redirects=False))
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    refused = answers[-1]
    assert int(refused.headers["retry-after"]) >= 1 and refused.headers["content-type"].startswith("text/html")
    assert "Too many sign-in attempts" in refused.text and COOKIE not in refused.headers.get("set-cookie", "")
    assert len(client.app.state.sessions) == 0
    elsewhere = TestClient(client.app, client=("203.0.113.9", 50_000))  # another address has its own bucket
    assert elsewhere.post("/signin", data={"api_key": keys["allocator"][0]}, follow_redirects=False
                          ).status_code == 303
    rows = [r for r in client.app.state.audit.rows() if r["endpoint"] == "/signin"]
    assert [r["status"] for r in rows] == [401, 401, 401, 429, 303]
    assert rows[3]["key_id"] == keys["allocator"][1].key_id and rows[3]["role"] == "allocator"


def test_sign_ins_are_limited_per_key(make_client: Any, settings: Any, keys: Any) -> None:
    client = make_client(service_settings=settings.model_copy(update={"signin_per_minute_per_key": 2}))
    answers = [client.post("/signin", data={"api_key": keys["allocator"][0]}, follow_redirects=False)
               for _ in range(3)]
    assert [a.status_code for a in answers] == [303, 303, 429] and int(answers[2].headers["retry-after"]) >= 1
    assert client.post("/signin", data={"api_key": keys["clinician"][0]}, follow_redirects=False).status_code == 303
    wrong_secret = f"ca_{keys['data_scientist'][1].key_id}_{'x' * 43}"  # spends nothing of that key's budget
    for _ in range(3):
        assert client.post("/signin", data={"api_key": wrong_secret}, follow_redirects=False).status_code == 401
    assert client.post("/signin", data={"api_key": keys["data_scientist"][0]}, follow_redirects=False
                       ).status_code == 303


@pytest.mark.parametrize("headers", [{"Origin": EVIL}, {"Origin": "null"}, {"Referer": f"{EVIL}/login"},
                                     {"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://testserver:8080"},
                                     {"Origin": "https://testserver"}],
                         ids=["origin", "null", "referer", "sec-fetch-site", "port", "scheme"])
def test_cross_site_sign_in_is_refused_and_opens_no_session(client: Any, keys: Any, headers: dict[str, str]
                                                            ) -> None:
    response = client.post("/signin", data={"api_key": keys["allocator"][0]}, headers=headers,
                           follow_redirects=False)
    assert response.status_code == 403 and "another site" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert COOKIE not in response.headers.get("set-cookie", "") and len(client.app.state.sessions) == 0
    rows = client.app.state.audit.rows()
    assert rows[-1]["endpoint"] == "/signin" and rows[-1]["status"] == 403


@pytest.mark.parametrize("headers", [{}, {"Origin": "http://testserver"}, {"Referer": "http://testserver/signin"},
                                     {"Origin": "http://TESTSERVER:80", "Sec-Fetch-Site": "same-origin"}])
def test_same_origin_and_non_browser_sign_ins_work(client: Any, keys: Any, headers: dict[str, str]) -> None:
    response = client.post("/signin", data={"api_key": keys["allocator"][0]}, headers=headers,
                           follow_redirects=False)
    assert response.status_code == 303 and COOKIE in response.headers["set-cookie"]


def test_every_unsafe_page_request_checks_the_origin(client: Any, keys: Any, auth: Any) -> None:
    token = sign_in(client, keys, "allocator")
    evil = {"Origin": EVIL, CSRF_HEADER: token}
    download = client.post("/pages/allocator/allocation.csv", json={"max_change": 0.3}, headers=evil)
    assert download.status_code == 403 and download.json()["type"].endswith("cross-origin")
    api_by_cookie = client.post("/v1/recommendations", json={"max_change": 0.3}, headers=evil)
    assert api_by_cookie.status_code == 403 and api_by_cookie.json()["type"].endswith("cross-origin")
    out = client.post("/signout", data={"csrf_token": token}, headers={"Origin": EVIL}, follow_redirects=False)
    assert out.status_code == 403 and len(client.app.state.sessions) == 1
    assert client.get("/pages/allocator", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200  # safe
    same = client.post("/pages/allocator/allocation.csv", json={"max_change": 0.3},
                       headers={"Origin": "http://testserver", CSRF_HEADER: token})
    assert same.status_code == 200
    client.cookies.clear()  # API keys are not cookies: another origin cannot make a browser send one
    keyed = client.post("/v1/recommendations", json={"max_change": 0.3}, headers={**auth("allocator"),
                                                                                    "Origin": EVIL})
    assert keyed.status_code == 200


def test_a_configured_public_origin_replaces_the_host_header(make_client: Any, settings: Any, keys: Any) -> None:
    client = make_client(service_settings=settings.model_copy(update={
        "public_origin": "https://carealloc.example.org"}))
    behind_proxy = client.post("/signin", data={"api_key": keys["allocator"][0]}, follow_redirects=False,
                               headers={"Origin": "https://carealloc.example.org"})
    assert behind_proxy.status_code == 303
    client.cookies.clear()
    direct = client.post("/signin", data={"api_key": keys["allocator"][0]}, follow_redirects=False,
                         headers={"Origin": "http://testserver"})
    assert direct.status_code == 403


def test_client_buckets_do_not_grow_without_bound() -> None:
    from serving.ratelimit import RateLimiter

    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=1, clock=lambda: now[0])
    assert all(limiter.take(f"198.51.100.{i}") is None for i in range(5_000))  # 5,000 addresses, one try each
    assert limiter.take("198.51.100.7") == 1  # still within its refill time: remembered and refused
    now[0] = 2.0  # every bucket has refilled: forgetting them changes no answer
    assert all(limiter.take(f"203.0.113.{i}") is None for i in range(3_200))
    assert len(limiter) == 3_200
