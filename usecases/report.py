"""The allocation report: the plan, what it does to payer contracts, cost per outcome and cost-effectiveness
(ICER and acceptability curve), the charts and the method, as one HTML document and the PDF rendered from it.

One template serves both (WeasyPrint lays the HTML out as print pages), so the PDF never drifts from the HTML. Charts
are matplotlib SVG inlined in the page: no file beside the report, nothing fetched when it is opened.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from models.forecast import QALY_PER_RELIABLE_IMPROVEMENT
from usecases.confidence import chance_text
from usecases.contract_projection import ContractProjection
from usecases.cost_effectiveness import NICE_THRESHOLDS, AcceptabilityCurve, cost_per_outcome

TEMPLATES = Path(__file__).with_name("templates")
MORE, LESS = "#1f6fb4", "#c0392b"
"""Bars of programmes that gain / lose money (also how the tests find the chart on a rendered page)."""
STATUS_QUO, PLAN = "#7f8c8d", "#27ae60"
CEAC = "#8e44ad"
"""The acceptability curve's line."""


@dataclass(frozen=True)
class ReportContent:
    title: str
    recommendation: dict[str, Any]
    contracts_status_quo: list[ContractProjection] = field(default_factory=list)
    contracts_plan: list[ContractProjection] = field(default_factory=list)
    currency: str = ""
    acceptability: AcceptabilityCurve | None = None
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})  # same plan, same bytes
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def money_moves_chart(allocations: list[dict[str, Any]]) -> str:
    """Diverging bars of the change per programme, sorted by change, in money."""
    rows = sorted(allocations, key=lambda a: a["change"])
    height = max(2.0, 0.22 * len(rows) + 0.8)
    figure = Figure(figsize=(6.5, height))
    axis = figure.subplots()
    changes = [a["change"] for a in rows]
    axis.barh([a["program_id"] for a in rows], changes, color=[MORE if c >= 0 else LESS for c in changes])
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlabel("change in funding")
    axis.set_title("Where the money moves")
    axis.tick_params(axis="y", labelsize=7)
    return _svg(figure)


def contract_payments_chart(status_quo: list[ContractProjection], plan: list[ContractProjection]) -> str:
    """Expected payment per contract under the status quo and the plan, with the 5-95 % range."""
    figure = Figure(figsize=(6.5, max(2.0, 0.45 * len(plan) + 0.8)))
    axis = figure.subplots()
    positions = range(len(plan))
    for offset, projections, colour, label in ((-0.18, status_quo, STATUS_QUO, "status quo"),
                                               (0.18, plan, PLAN, "plan")):
        values = [p.expected_payment for p in projections]
        # a lumpy payment (a tier reached or not) can have its mean outside its 5-95 % range: whiskers stop at it
        low = [max(p.expected_payment - p.payment_p05, 0.0) for p in projections]
        high = [max(p.payment_p95 - p.expected_payment, 0.0) for p in projections]
        axis.barh([i + offset for i in positions], values, height=0.34, color=colour, label=label,
                  xerr=[low, high], error_kw={"elinewidth": 0.8, "capsize": 2})
    axis.set_yticks(list(positions), [p.contract_id for p in plan], fontsize=8)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.set_xlabel("expected contract payment (bars: 5-95 % range)")
    axis.legend(loc="lower right", fontsize=8)
    axis.set_title("Contract payments")
    return _svg(figure)


def acceptability_chart(curve: AcceptabilityCurve) -> str:
    """The chance the plan is cost-effective against willingness to pay per QALY, NICE's thresholds marked."""
    figure = Figure(figsize=(6.5, 2.6))
    axis = figure.subplots()
    axis.plot(curve.willingness_to_pay, curve.probability_cost_effective, color=CEAC, linewidth=2.2, marker="o",
              markersize=4)
    for threshold in NICE_THRESHOLDS:
        axis.axvline(threshold, color=STATUS_QUO, linestyle="--", linewidth=0.9)
    axis.set_ylim(-0.03, 1.03)
    axis.set_xlim(0, max(curve.willingness_to_pay))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axis.tick_params(labelsize=8)
    axis.set_xlabel("willingness to pay per QALY (dashed: NICE 20,000 and 30,000)")
    axis.set_ylabel("P(cost-effective)")
    axis.set_title("Cost-effectiveness acceptability")
    return _svg(figure)


def render_html(content: ReportContent) -> str:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    environment.filters["money"] = lambda v: "-" if v is None else f"{content.currency}{v:,.0f}"
    environment.filters["num"] = lambda v, d=1: "-" if v is None else f"{v:,.{d}f}"
    environment.filters["chance"] = chance_text
    body = content.recommendation
    charts = {"money": money_moves_chart(body["allocations"])}
    if content.contracts_plan:
        charts["contracts"] = contract_payments_chart(content.contracts_status_quo, content.contracts_plan)
    ceac = None
    if content.acceptability is not None:
        charts["acceptability"] = acceptability_chart(content.acceptability)
        ceac = [(w, p, w in NICE_THRESHOLDS) for w, p in zip(content.acceptability.willingness_to_pay,
                                                             content.acceptability.probability_cost_effective,
                                                             strict=True) if w % 5_000 == 0]
    contracts = [{"now": asdict(a), "plan": asdict(b)}
                 for a, b in zip(content.contracts_status_quo, content.contracts_plan, strict=True)]
    moved = sum(abs(a["change"]) for a in body["allocations"]) / 2
    return environment.get_template("report.html").render(
        title=content.title, generated_at=content.generated_at, body=body, charts=charts, contracts=contracts,
        value=cost_per_outcome(body["totals"]), moved=moved, acceptability=content.acceptability, ceac=ceac,
        qaly_per_ri=QALY_PER_RELIABLE_IMPROVEMENT)


def render_pdf(html: str) -> bytes:
    """The HTML laid out as A4 pages (WeasyPrint: a real layout engine; the charts stay vectors)."""
    from weasyprint import HTML

    return bytes(HTML(string=html, base_url=str(TEMPLATES)).write_pdf())
