"""POST /v1/reports: the allocation report as HTML or PDF from the served champion; bad constraints are a 422."""

from __future__ import annotations

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
