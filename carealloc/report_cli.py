"""`carealloc report`: the allocation report as HTML and PDF. Kept beside cli.py so the command stays one line
there."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from carealloc.champion import load_model
from carealloc.terminal import console, errors, print_contract_problems, refuse_file
from core.settings import Settings


def report(
    data: Annotated[Path, typer.Option(help="Folder with programs.* and episodes.* (the contracts' populations are "
                                            "measured on its recent periods).")],
    out: Annotated[Path, typer.Option(help="Folder to write report.html and report.pdf into.")],
    constraints: Annotated[Path | None, typer.Option(help="JSON constraints (as for `recommend`); default: "
                                                          "max_change 0.3.")] = None,
    contracts: Annotated[Path | None, typer.Option(help="JSON payer contracts ({\"contracts\": [...]}, see "
                                                        "docs).")] = None,
    title: Annotated[str, typer.Option(help="The report's title.")] = "Allocation report",
    value_per_improvement: Annotated[float | None, typer.Option(
        help="With --contracts: plan for money instead, each reliable improvement counted as this much plus the "
             "contracts' expected payments, net of funding.", min=0)] = None,
) -> None:
    """Recommend a split and write the report: plan, payer contracts, cost per outcome, charts and method."""
    from pydantic import ValidationError

    from allocation import InfeasibleConstraintsError
    from features.contract import ContractError
    from features.contracts import ContractsError, load_contracts
    from features.tables import load_tables
    from records.plans import PlanStore
    from usecases.cost_effectiveness import acceptability_curve
    from usecases.curves import outcome_curves
    from usecases.money_plan import contract_projections
    from usecases.recommendation import RecommendationRequest, recommend
    from usecases.report import ReportContent, render_html, render_pdf

    settings = Settings()
    raw: dict[str, Any] = {"max_change": 0.3}
    try:
        if constraints is not None:
            raw = json.loads(constraints.read_text())
        request = RecommendationRequest.model_validate(raw)
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        refuse_file(constraints or Path("constraints"), exc, "request", code=2)
    try:
        contract_set = load_contracts(contracts) if contracts is not None else None
    except ContractsError as exc:
        errors.print(f"[bold red]{exc.source}:[/]", highlight=False)
        for problem in exc.problems:
            errors.print(f"  - {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    try:
        tables = load_tables(data)
    except ContractError as exc:
        print_contract_problems(data, exc)
        raise typer.Exit(1) from None
    if value_per_improvement is None and request.objective.kind == "money":  # the money objective in the file
        value_per_improvement = request.objective.value_per_improvement
    if value_per_improvement is not None and contract_set is None:
        errors.print("[bold red]--value-per-improvement needs --contracts[/] (the payments it counts come from them)")
        raise typer.Exit(2)
    bundle = load_model(settings, None)
    started = time.perf_counter()
    try:
        if value_per_improvement is not None and contract_set is not None:
            request = _money_plan(bundle, request, contract_set, tables.episodes, value_per_improvement)
        body = recommend(bundle, request)
    except InfeasibleConstraintsError as exc:
        errors.print("[bold red]the constraints cannot all hold:[/]")
        for conflict in exc.conflicts:
            errors.print(f"  - {conflict}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    except ValueError as exc:
        errors.print(f"[bold red]{contracts}:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    now: list[Any] = []
    planned: list[Any] = []
    if contract_set is not None:
        try:
            now, planned = contract_projections(bundle, contract_set, body, tables.episodes)
        except ValueError as exc:
            errors.print(f"[bold red]{contracts}:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None
    split = {a["program_id"]: a["recommended_funding"] for a in body["allocations"]}
    html = render_html(ReportContent(title, body, now, planned,
                                     acceptability=acceptability_curve(outcome_curves(bundle), split)))
    pdf = render_pdf(html)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.html").write_text(html, encoding="utf-8")
    (out / "report.pdf").write_bytes(pdf)
    plans = PlanStore(settings.resolved_outcomes_url)
    try:
        plan_id = plans.save(body, request.model_dump(mode="json"), issued_by="carealloc report")
    finally:
        plans.close()
    console.print(f"wrote {out / 'report.html'} and {out / 'report.pdf'} in {time.perf_counter() - started:.1f} s "
                  f"(plan stored as {plan_id})", highlight=False)


def _money_plan(bundle: Any, request: Any, contract_set: Any, episodes: Any, value_per_improvement: float) -> Any:
    """The request with every programme pinned to the money objective's plan, so the report's evidence (baselines,
    intervals, explanations) is that plan's."""
    from usecases.money_plan import money_plan

    pinned, plan = money_plan(bundle, request, contract_set, episodes, value_per_improvement)
    console.print(plan.method, highlight=False)
    best = plan.best
    console.print(f"money value {best.value:,.0f} ({best.reliable_improvements:,.1f} reliable improvements, "
                  f"expected payments {best.expected_payments:,.0f}, funding {best.funding:,.0f}) - the "
                  f"{best.plan} plan", highlight=False)
    return pinned
