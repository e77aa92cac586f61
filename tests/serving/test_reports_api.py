"""POST /v1/reports: the allocation report as HTML or PDF from the served champion; bad constraints are a 422."""

from __future__ import annotations

import json
from typing import Any


def test_the_report_comes_as_html_or_pdf(client: Any, auth: Any) -> None:
    html = client.post("/v1/reports", json={"max_change": 0.3}, headers=auth("allocator"))
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for section in ("The plan", "Where the money moves", "Cost per outcome", "Cost-effectiveness acceptability",
                    "NICE threshold", "Method"):
        assert section in html.text
    pdf = client.post("/v1/reports?format=pdf", json={"max_change": 0.3}, headers=auth("data_scientist"))
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and "allocation-report.pdf" in pdf.headers["content-disposition"]


def test_infeasible_constraints_and_bad_formats_are_named(client: Any, auth: Any) -> None:
    infeasible = client.post("/v1/reports", json={"budget": 10, "max_change": 0.1}, headers=auth("allocator"))
    assert infeasible.status_code == 422 and infeasible.headers["content-type"] == "application/problem+json"
    wrong = client.post("/v1/reports?format=docx", json={}, headers=auth("allocator"))
    assert wrong.status_code == 422 and "format" in wrong.text
    assert client.post("/v1/reports", json={}, headers=auth("clinician")).status_code == 403


def test_an_unknown_programme_is_a_documented_404(client: Any, auth: Any) -> None:
    """Found by the live schema fuzz (300 cases): the 404 was sent but missing from the OpenAPI document."""
    response = client.post("/v1/reports", json={"programs": {"NOPE": {}}}, headers=auth("allocator"))
    assert response.status_code == 404 and response.json()["programs"] == ["NOPE"]
    documented = client.get("/openapi.json").json()["paths"]["/v1/reports"]["post"]["responses"]
    assert documented["404"]["content"] == {"application/problem+json": {"schema": {
        "$ref": "#/components/schemas/Problem"}}}


CONTRACTS = [
    {"contract_id": "COM-PHQ", "payer": "Commercial A", "population": {"payer": "commercial"},
     "metric": "reliable_improvement", "target": 0.2, "tiers": [{"threshold": 0.2, "lump_sum": 20_000}],
     "penalty": {"below": 0.1, "lump_sum": 5_000}},
    {"contract_id": "MCD-RET", "payer": "Medicaid", "population": {"payer": "medicaid"}, "metric": "retention",
     "target": 0.3, "tiers": [{"threshold": 0.3, "lump_sum": 8_000}]},
]


def _with_folder(make_client: Any, settings: Any, folder: Any) -> Any:
    return make_client(service_settings=settings.model_copy(update={"review_data_dir": folder}))


def test_contracts_in_the_body_are_measured_on_the_data_folders_episodes(make_client: Any, settings: Any,
                                                                         world_dir: Any, auth: Any) -> None:
    service = _with_folder(make_client, settings, world_dir)
    html = service.post("/v1/reports", json={"max_change": 0.3, "contracts": CONTRACTS}, headers=auth("allocator"))
    assert html.status_code == 200, html.text
    for text in ("Payer contracts", "Contract payments", "COM-PHQ", "MCD-RET", "Medicaid"):
        assert text in html.text
    pdf = service.post("/v1/reports?format=pdf", json={"contracts": CONTRACTS[:1]}, headers=auth("data_scientist"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


def test_the_data_folders_contracts_are_used_when_the_body_has_none(make_client: Any, settings: Any,
                                                                    world_dir: Any, auth: Any) -> None:
    (world_dir / "contracts.json").write_text(json.dumps({"contracts": CONTRACTS[1:]}))
    service = _with_folder(make_client, settings, world_dir)
    html = service.post("/v1/reports", json={"max_change": 0.3}, headers=auth("allocator"))
    assert html.status_code == 200 and "MCD-RET" in html.text and "COM-PHQ" not in html.text
    given = service.post("/v1/reports", json={"contracts": CONTRACTS[:1]}, headers=auth("allocator"))
    assert "COM-PHQ" in given.text and "MCD-RET" not in given.text  # the body's contracts replace the folder's


def test_invalid_contracts_are_a_422_naming_the_contract_and_field(client: Any, auth: Any) -> None:
    broken = [{**CONTRACTS[0], "tiers": [{"threshold": 0.2, "lump_sum": -5}]}, CONTRACTS[1]]
    response = client.post("/v1/reports", json={"contracts": broken}, headers=auth("allocator"))
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert error == {"field": "body.contracts[0].tiers[0].lump_sum", "type": "greater_than_equal",
                     "message": "contract 'COM-PHQ' tiers[0].lump_sum: Input should be greater than or equal to 0"}
    twice = client.post("/v1/reports", json={"contracts": CONTRACTS[1:] * 2}, headers=auth("allocator"))
    assert twice.status_code == 422 and "repeated: MCD-RET" in twice.json()["errors"][0]["message"]
    hostile = [{**CONTRACTS[0], "contract_id": "=HYPERLINK(1)", "target": 3}]
    named = client.post("/v1/reports", json={"contracts": hostile}, headers=auth("allocator")).json()
    assert "HYPERLINK" not in json.dumps(named)
    assert [e["message"].split(":")[0] for e in named["errors"]] == ["contracts[0] contract_id"]


def test_contracts_without_the_departments_episodes_are_refused_saying_what_is_missing(
        client: Any, make_client: Any, settings: Any, auth: Any, tmp_path: Any) -> None:
    unset = client.post("/v1/reports", json={"contracts": CONTRACTS}, headers=auth("allocator"))
    assert unset.status_code == 409 and unset.json()["type"].endswith("department-data-not-configured")
    assert "CAREALLOC_REVIEW_DATA_DIR" in unset.json()["detail"] and "episodes" in unset.json()["detail"]
    folder = tmp_path / "no-episodes"
    folder.mkdir()
    (folder / "contracts.json").write_text(json.dumps({"contracts": CONTRACTS}))
    empty = _with_folder(make_client, settings, folder)
    missing = empty.post("/v1/reports", json={}, headers=auth("allocator"))
    assert missing.status_code == 409 and missing.json()["type"].endswith("department-episodes-missing")
    assert "episodes.csv" in missing.json()["detail"]
    documented = client.get("/openapi.json").json()["paths"]["/v1/reports"]["post"]["responses"]
    assert "409" in documented
