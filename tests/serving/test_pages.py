"""Web pages over HTTP (no browser): sign-in, the session cookie, CSRF, page access per role, the allocation CSV
and the episodes upload. The browser itself is driven in test_pages_browser.py."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

import pandas as pd
import pytest

from serving.pages.export import allocation_csv, safe_cell
from serving.sessions import COOKIE, CSRF_HEADER
from serving.settings import ServiceSettings

PAGES = {"/pages/allocator": {"allocator", "data_scientist"}, "/pages/clinician": {"clinician"},
         "/pages/models": {"data_scientist"}}
ROLES = ("allocator", "clinician", "data_scientist")


def sign_in(client: Any, keys: Any, name: str, next_page: str = "") -> str:
    """Sign in as `name`; returns the page's CSRF token."""
    response = client.post("/signin", data={"api_key": keys[name][0], "next": next_page}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def csv_of(rows: list[dict[str, Any]]) -> bytes:
    return pd.DataFrame(rows).to_csv(index=False).encode()


def test_pages_redirect_to_sign_in_and_back(client: Any, keys: Any) -> None:
    response = client.get("/pages/allocator", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/signin?next=/pages/allocator"
    form = client.get("/signin?next=/pages/allocator")
    assert form.status_code == 200 and 'name="api_key"' in form.text and 'for="api_key"' in form.text
    landed = client.post("/signin", data={"api_key": keys["allocator"][0], "next": "/pages/allocator"},
                         follow_redirects=False)
    assert landed.status_code == 303 and landed.headers["location"] == "/pages/allocator"
    cookie = landed.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie
    assert keys["allocator"][0] not in cookie and keys["allocator"][1].key_id not in cookie
    assert client.get("/pages/allocator").status_code == 200
    assert client.get("/", follow_redirects=False).headers["location"] == "/pages/allocator"


def test_bad_key_shows_a_message_next_to_the_field(client: Any) -> None:
    response = client.post("/signin", data={"api_key": "ca_aaaaaaaaaaaa_wrong"}, follow_redirects=False)
    assert response.status_code == 401 and response.headers["content-type"].startswith("text/html")
    assert 'id="api_key-error"' in response.text and "not valid" in response.text
    assert COOKIE not in response.headers.get("set-cookie", "")
    empty = client.post("/signin", data={"api_key": "  "}, follow_redirects=False)
    assert empty.status_code == 401 and "Enter your API key" in empty.text


def test_sign_in_form_escapes_what_the_query_carries(client: Any) -> None:
    response = client.get("/signin", params={"next": '"><script>alert(1)</script>'})
    assert response.status_code == 200 and "<script>alert" not in response.text and "&lt;script&gt;" in response.text
    assert "<script>" not in response.text.replace('<script src="/static/', "")  # only the page's own files


def test_next_cannot_send_the_browser_elsewhere(client: Any, keys: Any) -> None:
    for target in ("https://evil.example/", "//evil.example", "/pages/clinician"):
        response = client.post("/signin", data={"api_key": keys["allocator"][0], "next": target},
                               follow_redirects=False)
        assert response.headers["location"] == "/pages/allocator", target


@pytest.mark.parametrize("role", ROLES)
def test_each_role_sees_its_pages_and_a_readable_403_elsewhere(make_client: Any, keys: Any, role: str) -> None:
    client = make_client()
    sign_in(client, keys, role)
    for path, allowed in PAGES.items():
        response = client.get(path, follow_redirects=False)
        assert response.headers["content-type"].startswith("text/html"), path
        if role in allowed:
            assert response.status_code == 200, (role, path)
            assert f'href="{path}" aria-current="page"' in response.text
        else:
            assert response.status_code == 403, (role, path)
            assert "not available to you" in response.text and role.replace("_", " ") in response.text
        for other, others_allowed in PAGES.items():  # the navigation offers only the role's own pages
            assert (f'href="{other}"' in response.text) == (role in others_allowed) or other == path


def test_cookie_authenticates_the_api_but_unsafe_methods_need_the_csrf_token(client: Any, keys: Any) -> None:
    token = sign_in(client, keys, "allocator")
    assert client.get("/v1/programs").status_code == 200
    body = {"max_change": 0.3}
    refused = client.post("/v1/recommendations", json=body)
    assert refused.status_code == 403 and refused.json()["type"].endswith("csrf-token-missing")
    wrong = client.post("/v1/recommendations", json=body, headers={CSRF_HEADER: "x" * 43})
    assert wrong.status_code == 403
    assert client.post("/v1/recommendations", json=body, headers={CSRF_HEADER: token}).status_code == 200
    assert client.post("/v1/patients/risk", json={"episodes": []}, headers={CSRF_HEADER: token}).status_code == 403
    rows = client.app.state.audit.rows()
    signed_in = [r for r in rows if r["endpoint"] in ("/signin", "/v1/recommendations", "/v1/programs")]
    assert signed_in and {r["key_id"] for r in signed_in} == {keys["allocator"][1].key_id}
    assert {r["role"] for r in signed_in} == {"allocator"}


def test_sign_out_ends_the_session(client: Any, keys: Any) -> None:
    token = sign_in(client, keys, "clinician")
    cookie = client.cookies.get(COOKIE)
    stale = client.post("/signout", data={"csrf_token": "not-it"}, follow_redirects=False)
    assert stale.status_code == 403 and client.get("/v1/programs").status_code == 200
    out = client.post("/signout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/signin"
    assert client.get("/pages/clinician", follow_redirects=False).status_code == 303
    client.cookies.set(COOKIE, cookie)  # the old id is dead server-side, not just forgotten by the browser
    assert client.get("/v1/programs").status_code == 401
    assert len(client.app.state.sessions) == 0


def test_secure_cookie_when_configured(make_client: Any, settings: ServiceSettings, keys: Any) -> None:
    client = make_client(service_settings=settings.model_copy(update={"session_cookie_secure": True}))
    response = client.post("/signin", data={"api_key": keys["allocator"][0]}, follow_redirects=False)
    assert "Secure" in response.headers["set-cookie"]


def test_safe_cell_neutralises_spreadsheet_formulas() -> None:
    for text in ("=HYPERLINK(\"http://x\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(text) == "'" + text
    assert safe_cell("P001") == "P001" and safe_cell(-1250.5) == -1250.5 and safe_cell(None) == ""
    row = {"program_id": "=cmd|' /C calc'!A0", "current_funding": 100.0, "recommended_funding": 80.0,
           "change": -20.0, "change_pct": -0.2, "lower_limit": 70.0, "upper_limit": 130.0,
           "marginal_gain_per_1000": 0.5, "flags": ["@flag"],
           "expected_reliable_improvements": {"value": 3.0, "lower": 2.0, "upper": 4.0}}
    text = allocation_csv({"allocations": [row]}, {}, date(2026, 1, 2))
    parsed = [r for r in csv.reader(io.StringIO(text)) if not r[0].startswith("#")]
    shown = dict(zip(parsed[0], parsed[1], strict=True))
    assert shown["program_id"] == "'=cmd|' /C calc'!A0" and shown["change"] == "-20" and shown["flags"] == "'@flag"


def test_allocation_csv_download(client: Any, keys: Any) -> None:
    token = sign_in(client, keys, "allocator")
    response = client.post("/pages/allocator/allocation.csv", json={"max_change": 0.3},
                           headers={CSRF_HEADER: token})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    assert response.text.startswith("# model version: 7\r\n")
    table = pd.read_csv(io.StringIO(response.text), comment="#")
    programs = client.get("/v1/programs").json()["programs"]
    assert sorted(table["program_id"]) == sorted(p["program_id"] for p in programs)
    total = sum(p["current_funding"] for p in programs)  # whole units each: within half a unit per programme
    assert abs(table["recommended_funding"].sum() - total) <= len(programs) / 2
    by_id = {p["program_id"]: p for p in programs}
    assert table.set_index("program_id")["modality"].to_dict() == {k: p["modality"] for k, p in by_id.items()}
    assert table.set_index("program_id")["site_id"].to_dict() == {k: p["groups"]["site_id"] for k, p in by_id.items()}
    assert table["units"].isna().all()  # money only: no cell was asked for in steps

    first = programs[0]
    salary = round(first["current_funding"] / 6, -3)
    stepped = client.post("/pages/allocator/allocation.csv", headers={CSRF_HEADER: token}, json={
        "max_change": 0.5, "programs": {first["program_id"]: {"step": salary, "unit": "FTE"}}})
    assert stepped.status_code == 200, stepped.text
    row = pd.read_csv(io.StringIO(stepped.text), comment="#").set_index("program_id").loc[first["program_id"]]
    assert row["unit"] == "FTE" and row["recommended_funding"] == pytest.approx(row["units"] * salary, abs=0.5)
    infeasible = client.post("/pages/allocator/allocation.csv", headers={CSRF_HEADER: token},
                             json={"max_change": 0.01, "budget": 1.0})
    assert infeasible.status_code == 422 and infeasible.headers["content-type"] == "application/problem+json"


def test_episode_upload_returns_rows_for_the_risk_endpoint(client: Any, keys: Any,
                                                           episode_rows: list[dict[str, Any]]) -> None:
    token = sign_in(client, keys, "clinician")
    rows = [{**r, "patient_id": f"PT-{i}"} for i, r in enumerate(episode_rows[:40])]
    response = client.post("/pages/clinician/episodes", headers={CSRF_HEADER: token},
                           files={"file": ("mine.csv", csv_of(rows), "text/csv")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == 40 and "patient_id" in body["ignored_columns"] and "PT-1" not in response.text
    scored = client.post("/v1/patients/risk", json={"episodes": body["episodes"]}, headers={CSRF_HEADER: token})
    assert scored.status_code == 200, scored.text
    assert [e["ref"] for e in scored.json()["episodes"]] == [r["episode_id"] for r in rows]


def test_episode_upload_names_lines_and_columns(client: Any, keys: Any, episode_rows: list[dict[str, Any]]) -> None:
    token = sign_in(client, keys, "clinician")
    rows = [dict(r) for r in episode_rows[:5]]
    rows[1]["period"] = "2025-Q5"
    rows[3]["baseline_score"] = 999  # beyond every registered instrument's range
    bad = client.post("/pages/clinician/episodes", headers={CSRF_HEADER: token},
                      files={"file": ("mine.csv", csv_of(rows), "text/csv")})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    messages = {e["field"]: e["message"] for e in bad.json()["errors"]}
    assert set(messages) == {"period", "baseline_score"}
    assert "lines 3" in messages["period"] and "mine.csv" in messages["period"]
    assert "lines 5" in messages["baseline_score"] and "range" in messages["baseline_score"]
    missing = client.post("/pages/clinician/episodes", headers={CSRF_HEADER: token},
                          files={"file": ("mine.csv", csv_of([{"episode_id": "a"}]), "text/csv")})
    assert missing.status_code == 422 and "program_id" in {e["field"] for e in missing.json()["errors"]}
    for content in (b"", b"\x00\xff\xfe binary"):
        odd = client.post("/pages/clinician/episodes", headers={CSRF_HEADER: token},
                          files={"file": ("x.csv", content, "text/csv")})
        assert odd.status_code == 422, content
    no_token = client.post("/pages/clinician/episodes", files={"file": ("mine.csv", csv_of(rows), "text/csv")})
    assert no_token.status_code == 403


def test_models_endpoint_carries_the_stored_calibration(make_client: Any, champion: Any, auth: Any) -> None:
    from dataclasses import replace

    bins = [{"bin": 0, "forecast": 0.1, "observed": 0.12, "count": 40}, {"bin": 5, "forecast": 0.55,
                                                                          "observed": 0.5, "count": 60}]
    bundle = replace(champion.bundle, calibration={"response": bins, "dropout": bins[:1]})
    loaded = replace(champion, bundle=bundle)
    client = make_client(loader=lambda *, allow_cache: loaded)
    response = client.get("/v1/models", headers=auth("allocator"))
    assert response.status_code == 200
    assert response.json()["calibration"]["response"][1] == {"forecast": 0.55, "observed": 0.5, "count": 60}
    assert len(response.json()["calibration"]["dropout"]) == 1


def test_sessions_expire_and_stay_bounded() -> None:
    from serving.principal import Principal
    from serving.sessions import SessionStore

    who = Principal("abcdefgh", "allocator", None)
    expired = SessionStore(lifetime_seconds=0, max_sessions=10)
    assert expired.get(expired.open(who).session_id) is None and len(expired) == 0
    store = SessionStore(lifetime_seconds=60, max_sessions=2)
    first, second, third = (store.open(who) for _ in range(3))
    assert store.get(first.session_id) is None and len(store) == 2  # the oldest is dropped
    assert store.get(third.session_id) == third and second.csrf_token != third.csrf_token
    assert third.csrf_matches(third.csrf_token) and not third.csrf_matches("") and not third.csrf_matches(None)


def test_allocator_page_names_the_configured_currency(make_client: Any, settings: ServiceSettings,
                                                      keys: Any) -> None:
    client = make_client(service_settings=settings.model_copy(update={"currency": "EUR"}))
    sign_in(client, keys, "allocator")
    page = client.get("/pages/allocator").text
    assert '<meta name="currency" content="EUR">' in page and "Budget (EUR)" in page
    assert ServiceSettings(data_dir=settings.data_dir).currency == "USD"
    for code in ("usd", "EURO", "$"):
        with pytest.raises(ValueError, match="currency"):
            ServiceSettings(data_dir=settings.data_dir, currency=code)
