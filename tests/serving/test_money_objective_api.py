"""POST /v1/recommendations with the money objective: the plan counts reliable improvements at a stated value plus
the payer contracts' expected payments, net of funding, and the answer states those payments; what it needs and
lacks is named."""

from __future__ import annotations

import json
from typing import Any

import pytest

KEEP = {"contract_id": "MCD-KEEP", "payer": "Medicaid", "population": {"payer": "medicaid"}, "metric": "retention",
        "target": 0.0, "tiers": [{"threshold": 0.0, "per_point": 200_000}], "min_sample": 1}
MONEY = {"kind": "money", "value_per_improvement": 500}


def test_the_money_objective_states_the_expected_payments(make_client: Any, settings: Any, world_dir: Any,
                                                          auth: Any) -> None:
    service = make_client(service_settings=settings.model_copy(update={"review_data_dir": world_dir}))
    answer = service.post("/v1/recommendations", json={"objective": MONEY, "max_change": 0.3, "contracts": [KEEP]},
                          headers=auth("allocator"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    money = body["money"]
    assert body["objective"] == MONEY and body["objective_value"] == pytest.approx(money["value"])
    assert [c["contract_id"] for c in money["contracts"]] == ["MCD-KEEP"] == \
        [c["contract_id"] for c in money["contracts_status_quo"]]
    assert money["expected_payments"] == pytest.approx(sum(c["expected_payment"] for c in money["contracts"]))
    assert money["expected_payments"] > 0 and money["expected_payments_status_quo"] > 0
    funding = sum(a["recommended_funding"] for a in body["allocations"])
    assert money["funding"] == pytest.approx(funding, rel=1e-9)
    assert money["value"] == pytest.approx(500 * money["reliable_improvements"] + money["expected_payments"] - funding)
    assert money["reliable_improvements"] == pytest.approx(body["totals"]["plan"]["reliable_improvements"], rel=1e-6)
    assert "locally, not globally, optimal" in money["method"]
    # the status quo is one of the plans it chose from, so the money objective never scores below it
    current = sum(a["current_funding"] for a in body["allocations"])
    status_quo = (500 * body["totals"]["status_quo"]["reliable_improvements"]
                  + money["expected_payments_status_quo"] - current)
    assert money["value"] >= status_quo - 1e-6
    plan = service.get(answer.headers["Location"], headers=auth("allocator")).json()
    assert plan["request"]["objective"]["kind"] == "money" and plan["request"]["contracts"][0]["contract_id"] == \
        "MCD-KEEP"
    # the folder's contracts.json stands in for contracts the body does not give
    (world_dir / "contracts.json").write_text(json.dumps({"contracts": [KEEP]}))
    again = service.post("/v1/recommendations", json={"objective": MONEY, "max_change": 0.3},
                         headers=auth("data_scientist"))
    assert again.status_code == 200 and again.json()["money"]["expected_payments"] == \
        pytest.approx(money["expected_payments"])


def test_other_objectives_leave_money_out(client: Any, auth: Any) -> None:
    body = client.post("/v1/recommendations", json={"max_change": 0.3}, headers=auth("allocator")).json()
    assert body["money"] is None


@pytest.mark.parametrize(("objective", "says"), [
    ({"kind": "money"}, "value_per_improvement: the money objective needs"),
    ({"kind": "weighted", "weights": {"qalys": 1}, "value_per_improvement": 5}, "applies to kind 'money' only"),
    ({"kind": "money", "value_per_improvement": -1}, "greater than or equal to 0"),
])
def test_a_money_objective_without_its_value_is_a_422_naming_the_field(client: Any, auth: Any,
                                                                        objective: dict[str, Any], says: str) -> None:
    response = client.post("/v1/recommendations", json={"objective": objective}, headers=auth("allocator"))
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["field"].startswith("body.objective") and says in error["message"]


def test_what_the_money_objective_lacks_is_named(client: Any, make_client: Any, settings: Any, world_dir: Any,
                                                 auth: Any) -> None:
    unset = client.post("/v1/recommendations", json={"objective": MONEY, "contracts": [KEEP]},
                        headers=auth("allocator"))
    assert unset.status_code == 409 and "CAREALLOC_REVIEW_DATA_DIR" in unset.json()["detail"]
    service = make_client(service_settings=settings.model_copy(update={"review_data_dir": world_dir}))
    none = service.post("/v1/recommendations", json={"objective": MONEY}, headers=auth("allocator"))
    assert none.status_code == 422 and none.json()["errors"][0]["field"] == "body.contracts"
    assert "contracts.json" in none.json()["detail"]
    nobody = {**KEEP, "population": {"payer": "medicaid", "programs": ["NOT-A-PROGRAMME"]}}
    empty = service.post("/v1/recommendations", json={"objective": MONEY, "contracts": [nobody]},
                         headers=auth("allocator"))
    assert empty.status_code == 422 and "MCD-KEEP" in empty.json()["detail"]


def test_a_compute_worker_gives_the_same_money_answer(make_client: Any, settings: Any, world_dir: Any,
                                                      auth: Any) -> None:
    """The episodes travel to the worker with the request; the answer does not depend on where it ran."""
    folder = {"review_data_dir": world_dir}
    inline = make_client(service_settings=settings.model_copy(update=folder))
    pooled = make_client(service_settings=settings.model_copy(update={**folder, "compute_workers": 1}))
    assert pooled.app.state.holder.current.compute is not None
    request = {"objective": MONEY, "max_change": 0.3, "contracts": [KEEP]}
    here, there = (c.post("/v1/recommendations", json=request, headers=auth("allocator")) for c in (inline, pooled))
    assert here.status_code == there.status_code == 200, there.text
    assert here.json()["money"] == there.json()["money"]
