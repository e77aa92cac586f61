"""The allocation report: HTML with every section (the acceptability curve's included), and a PDF whose rendered
pages show every chart."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pypdfium2 as pdfium

from features.contracts import parse_contracts
from usecases.contract_projection import project_contracts
from usecases.cost_effectiveness import acceptability_curve
from usecases.curves import outcome_curves
from usecases.recommendation import RecommendationRequest, recommend
from usecases.report import CEAC, LESS, MORE, PLAN, STATUS_QUO, ReportContent, render_html, render_pdf

CONTRACTS = {"contracts": [
    {"contract_id": "COM-PHQ", "payer": "Commercial A", "population": {"payer": "commercial"},
     "metric": "reliable_improvement", "target": 0.2, "tiers": [{"threshold": 0.2, "lump_sum": 20_000}],
     "penalty": {"below": 0.1, "lump_sum": 5_000}},
    {"contract_id": "MCD-RET", "payer": "Medicaid", "population": {"payer": "medicaid"}, "metric": "retention",
     "target": 0.3, "tiers": [{"threshold": 0.3, "lump_sum": 8_000}]},
]}


def _colour_pixels(pdf: bytes, colour: str) -> int:
    target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
    total = 0
    document = pdfium.PdfDocument(pdf)
    for page in document:
        image = np.asarray(page.render(scale=1.5).to_pil().convert("RGB")).reshape(-1, 3).astype(int)
        total += int((np.abs(image - target).sum(axis=1) <= 12).sum())
    return total


def test_the_report_shows_plan_contracts_costs_and_method(trained: Any, small_world: Any) -> None:
    _, _, episodes = small_world
    bundle = trained[2]
    body = recommend(bundle, RecommendationRequest(max_change=0.3))
    contracts = parse_contracts(CONTRACTS)
    plan = {a["program_id"]: a["recommended_funding"] for a in body["allocations"]}
    content = ReportContent("Allocation report", body, project_contracts(contracts, bundle, {}, episodes),
                            project_contracts(contracts, bundle, plan, episodes), currency="$",
                            acceptability=acceptability_curve(outcome_curves(bundle), plan))
    html = render_html(content)
    for text in ("The plan", "Payer contracts", "Cost per outcome", "Method", "COM-PHQ", "MCD-RET", "Medicaid",
                 body["allocations"][0]["program_id"], "Where the money moves", "Contract payments",
                 "Cost-effectiveness acceptability", "$20,000", "$30,000", "NICE threshold"):
        assert text in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:|url\(\s*["']?https?:|@import""", html)  # nothing fetched
    pdf = render_pdf(html)
    assert pdf.startswith(b"%PDF-")
    assert len(pdfium.PdfDocument(pdf)) >= 2
    # every chart is drawn on a page: its bar colours are there once rendered
    for colour in (MORE, LESS, STATUS_QUO, PLAN, CEAC):
        assert _colour_pixels(pdf, colour) > 200, colour
