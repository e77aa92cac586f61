"""Saved and shared scenarios over HTTP: each key keeps its own, shares some, never sees another key's unshared ones
and never changes another key's; a per-key limit; field errors named."""

from __future__ import annotations

from typing import Any

from records.saved_scenarios import SavedScenarioStore
from serving.keys import new_key
from serving.settings import ServiceSettings

RURAL = {"max_change": 0.3, "groups": [{"column": "region", "value": "rural", "min_share": 0.15}]}


def _save(client: Any, headers: dict[str, str], name: str = "rural floor", **extra: Any) -> Any:
    return client.post("/v1/saved-scenarios", headers=headers, json={"name": name, "request": RURAL, **extra})


def test_save_list_get_share_and_delete(make_client: Any, settings: ServiceSettings, keys: Any) -> None:
    colleague, record = new_key("allocator")  # a second allocator, to see what sharing shows
    client = make_client(service_settings=settings.model_copy(update={"api_keys": (*settings.api_keys, record)}))
    mine, theirs = {"X-API-Key": keys["allocator"][0]}, {"X-API-Key": colleague}

    saved = _save(client, mine)
    assert saved.status_code == 201, saved.text
    scenario = saved.json()
    assert saved.headers["location"] == f"/v1/saved-scenarios/{scenario['scenario_id']}"
    assert scenario["name"] == "rural floor" and scenario["mine"] and not scenario["shared"]
    assert scenario["request"]["groups"][0]["min_share"] == 0.15 and scenario["request"]["max_change"] == 0.3
    path = saved.headers["location"]

    fetched = client.get(path, headers=mine)
    assert fetched.status_code == 200 and fetched.json() == scenario
    # the request saved is the one the recommendations route takes: it runs as saved
    assert client.post("/v1/recommendations", headers=mine, json=fetched.json()["request"]).status_code == 200

    assert client.get("/v1/saved-scenarios", headers=theirs).json()["scenarios"] == []  # unshared: invisible
    assert client.get(path, headers=theirs).status_code == 404
    for refused in (client.delete(path, headers=theirs), client.patch(path, headers=theirs, json={"shared": True})):
        assert refused.status_code == 404 and refused.headers["content-type"] == "application/problem+json"

    shared = client.patch(path, headers=mine, json={"shared": True})
    assert shared.status_code == 200 and shared.json()["shared"] is True
    listed = client.get("/v1/saved-scenarios", headers=theirs).json()
    assert [(s["scenario_id"], s["mine"]) for s in listed["scenarios"]] == [(scenario["scenario_id"], False)]
    assert listed["limit"] == settings.max_saved_scenarios_per_key
    assert client.get(path, headers=theirs).json()["request"] == scenario["request"]
    assert client.delete(path, headers=theirs).status_code == 403  # may read, not delete
    assert client.patch(path, headers=theirs, json={"shared": False}).status_code == 403

    own = _save(client, theirs, "their own").json()
    names = {s["name"]: s["mine"] for s in client.get("/v1/saved-scenarios", headers=mine).json()["scenarios"]}
    assert names == {"rural floor": True}  # theirs is not shared
    names = {s["name"]: s["mine"] for s in client.get("/v1/saved-scenarios", headers=theirs).json()["scenarios"]}
    assert names == {"rural floor": False, "their own": True}

    assert client.patch(path, headers=mine, json={"shared": False}).json()["shared"] is False
    assert client.get(path, headers=theirs).status_code == 404
    assert client.delete(path, headers=mine).status_code == 204
    assert client.get(path, headers=mine).status_code == 404
    assert client.delete(path, headers=mine).status_code == 404
    assert client.get(f"/v1/saved-scenarios/{own['scenario_id']}", headers=theirs).status_code == 200

    audited = [r for r in client.app.state.audit.rows() if r["endpoint"].startswith("/v1/saved-scenarios")]
    assert {r["endpoint"] for r in audited} == {"/v1/saved-scenarios", "/v1/saved-scenarios/{scenario_id}"}
    assert {r["key_id"] for r in audited} == {keys["allocator"][1].key_id, record.key_id}


def test_unknown_id_is_a_404_problem(client: Any, auth: Any) -> None:
    response = client.get("/v1/saved-scenarios/00000000-0000-0000-0000-000000000000", headers=auth("allocator"))
    assert response.status_code == 404 and response.json()["type"].endswith("unknown-saved-scenario")
    assert client.get("/v1/saved-scenarios/not-an-id", headers=auth("allocator")).status_code == 422


def test_bad_bodies_name_the_field(client: Any, auth: Any) -> None:
    headers = auth("allocator")
    cases = {"body.request.max_change": {"name": "x", "request": {"max_change": 0}},
             "body.name": {"name": "", "request": RURAL},
             "body.request.groups[0].min_share": {"name": "x", "request": {"groups": [
                 {"column": "region", "value": "rural", "min_share": 7}]}},
             "body.request.budgett": {"name": "x", "request": {"budgett": 1}}}
    for field, body in cases.items():
        response = client.post("/v1/saved-scenarios", headers=headers, json=body)
        assert response.status_code == 422, (field, response.text)
        assert field in {e["field"] for e in response.json()["errors"]}, (field, response.json())
    control = client.post("/v1/saved-scenarios", headers=headers, json={"name": "a\x1bb", "request": RURAL})
    assert control.status_code == 422 and control.json()["errors"][0]["field"] == "body.name"
    assert "a\x1bb" not in control.text
    patch = client.patch("/v1/saved-scenarios/00000000-0000-0000-0000-000000000000", headers=headers,
                         json={"shared": "maybe"})
    assert patch.status_code == 422 and patch.json()["errors"][0]["field"] == "body.shared"
    assert client.get("/v1/saved-scenarios", headers=headers).json()["scenarios"] == []


def test_each_key_keeps_at_most_the_limit(make_client: Any, settings: ServiceSettings, auth: Any) -> None:
    client = make_client(service_settings=settings.model_copy(update={"max_saved_scenarios_per_key": 2}))
    for name in ("a", "b"):
        assert _save(client, auth("allocator"), name).status_code == 201
    over = _save(client, auth("allocator"), "c")
    assert over.status_code == 409 and over.json()["limit"] == 2
    assert "max_saved_scenarios_per_key" in over.json()["detail"]
    assert _save(client, auth("data_scientist"), "c").status_code == 201  # another key has its own places
    first = client.get("/v1/saved-scenarios", headers=auth("allocator")).json()["scenarios"][0]
    assert client.delete(f"/v1/saved-scenarios/{first['scenario_id']}", headers=auth("allocator")).status_code == 204
    assert _save(client, auth("allocator"), "c").status_code == 201


def test_clinicians_may_not_use_them(client: Any, auth: Any) -> None:
    assert _save(client, auth("clinician")).status_code == 403
    assert client.get("/v1/saved-scenarios", headers=auth("clinician")).status_code == 403


def test_store_keeps_scenarios_across_openings(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'outcomes.db'}"
    store = SavedScenarioStore(url)
    saved = store.save("keyone01", "q3 plan", RURAL, shared=False, limit=5)
    store.close()
    reopened = SavedScenarioStore(url)
    assert reopened.get(saved.scenario_id, "keyone01").request == RURAL
    assert reopened.listing("keytwo02") == []
    reopened.close()


def test_a_request_that_no_longer_validates_is_a_409_and_can_be_deleted(client: Any, auth: Any, keys: Any) -> None:
    store: SavedScenarioStore = client.app.state.saved_scenarios
    old = store.save(keys["allocator"][1].key_id, "from last year", {"max_change": 0.3, "retired_field": 1},
                     shared=False, limit=10)
    path = f"/v1/saved-scenarios/{old.scenario_id}"
    answer = client.get(path, headers=auth("allocator"))
    assert answer.status_code == 409 and "retired_field" in answer.json()["detail"]
    assert client.patch(path, headers=auth("allocator"), json={"shared": True}).status_code == 409
    assert store.get(old.scenario_id, keys["allocator"][1].key_id).shared is False  # refused unchanged
    listed = client.get("/v1/saved-scenarios", headers=auth("allocator")).json()["scenarios"]
    assert [s["name"] for s in listed] == ["from last year"]
    assert client.delete(path, headers=auth("allocator")).status_code == 204


def test_yes_or_no_fields_take_only_true_or_false(client: Any, auth: Any) -> None:
    """JSON 0, 1 or "yes" where the schema says boolean is refused, as the published schema promises (the fuzzer
    sends exactly that), in a saved scenario's request and in a recommendation alike."""
    headers = auth("allocator")
    pid = client.get("/v1/programs", headers=headers).json()["programs"][0]["program_id"]
    for request, field in (({"programs": {pid: {"no_decrease": 0}}}, f"programs.{pid}.no_decrease"),
                           ({"programs": {pid: {"locked": "yes"}}}, f"programs.{pid}.locked"),
                           ({"within_observed_range": 1}, "within_observed_range")):
        saved = client.post("/v1/saved-scenarios", headers=headers, json={"name": "n", "request": request})
        assert saved.status_code == 422 and f"body.request.{field}" in saved.text, saved.text
        asked = client.post("/v1/recommendations", headers=headers, json=request)
        assert asked.status_code == 422 and f"body.{field}" in asked.text, asked.text
    shared = client.post("/v1/saved-scenarios", headers=headers, json={"name": "n", "request": {}, "shared": 1})
    assert shared.status_code == 422 and "body.shared" in shared.text
