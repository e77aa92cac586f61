"""`carealloc review`: the quarterly cycle from the command line. Kept beside cli.py so the command stays one line
there."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from carealloc.champion import load_model
from carealloc.synthetic_commands import truth_beside
from carealloc.terminal import console, errors, print_contract_problems, refuse_file
from core.settings import Settings


def review(
    data: Annotated[Path, typer.Option(help="Folder with programs.* and episodes.* up to and including the period.")],
    period: Annotated[str, typer.Option(help="The quarter to review, as written in the data (e.g. 2025-Q4).")],
    retrain: Annotated[bool, typer.Option(help="Retrain on the folder first, through the same promotion gate.")]
    = False,
    correction: Annotated[bool, typer.Option(help="The figures correct periods already stored: replace them "
                                                  "(the replaced figures are kept in the history).")] = False,
    constraints: Annotated[Path | None, typer.Option(help="JSON constraints for next quarter's proposal (as for "
                                                          "`recommend`); default: max_change 0.3.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full review as JSON.")] = False,
) -> None:
    """Load a quarter's outcomes into the KPI history, score the plan issued for it, check drift, propose the next."""
    from pydantic import ValidationError
    from rich.table import Table

    from features.contract import ContractError
    from features.tables import load_tables
    from records.kpi_history import KpiHistory, PeriodConflictError
    from records.plans import PlanStore
    from records.reviews import ReviewLog
    from tracking.reviews import log_review
    from usecases.recommendation import RecommendationRequest
    from usecases.review import run_review

    settings = Settings()
    raw: dict[str, Any] = {"max_change": 0.3}
    if constraints is not None:
        try:
            raw = json.loads(constraints.read_text())
            RecommendationRequest.model_validate(raw)
        except (OSError, json.JSONDecodeError, ValidationError) as exc:
            refuse_file(constraints, exc, "request", code=2)
    try:
        tables = load_tables(data)
    except ContractError as exc:
        print_contract_problems(data, exc)
        raise typer.Exit(1) from None
    if retrain:
        from training.train import train

        result = train(data, settings, show_progress=False, truth=truth_beside(data))
        verdict = "promoted to @champion" if result.gate.promoted else "kept as @challenger"
        console.print(f"retrained: model v{result.model_version} {verdict} - {result.gate.reason}")
    bundle = load_model(settings, None)
    history, plans = KpiHistory(settings.resolved_outcomes_url), PlanStore(settings.resolved_outcomes_url)
    try:
        outcome = run_review(bundle, tables.programs, tables.episodes, period, history=history, plans=plans,
                             source=str(data), issued_by="carealloc review",
                             next_request=RecommendationRequest.model_validate(raw), correction=correction)
    except PeriodConflictError as exc:
        errors.print(f"[bold red]{data}: nothing stored.[/] {exc}", highlight=False, markup=False)
        raise typer.Exit(1) from None
    except ValueError as exc:
        errors.print(f"[bold red]{data}:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        history.close()
        plans.close()
    reviews = ReviewLog(settings.resolved_outcomes_url)
    try:
        reviews.save(outcome.period, outcome.model_version, outcome.figures(), outcome.alert_rows(),
                     outcome.proposal_plan_id)
    finally:
        reviews.close()
    log_review(settings, outcome.period, outcome.model_version, outcome.figures(), outcome.to_dict(),
               "carealloc review")
    if as_json:
        console.print_json(json.dumps(outcome.to_dict(), default=float))
        return
    load = outcome.load
    console.print(f"KPI history: {load.added} figures added, {load.replaced} replaced, {load.unchanged} unchanged")
    if outcome.plan_score is not None:
        score = outcome.plan_score
        table = Table(title=f"Plan {score.plan_id[:8]} for {score.period}: forecast vs actual")
        for column in ("metric", "forecast", "actual", "status quo", "gain", "in interval"):
            table.add_column(column, justify="left" if column == "metric" else "right")
        ranges = []
        for metric, totals in score.totals.items():
            share = score.coverage.get(metric)
            table.add_row(metric.replace("_", " "), f"{totals['forecast']:,.1f}", f"{totals['actual']:,.1f}",
                          f"{totals['status_quo_forecast']:,.1f}", f"{totals['gain_over_status_quo']:+,.1f}",
                          "-" if share is None else f"{share:.0%}")
            if math.isfinite(totals["gain_lower"]) and math.isfinite(totals["gain_upper"]):
                ranges.append(f"{metric.replace('_', ' ')} {totals['gain_lower']:+,.1f} to "
                              f"{totals['gain_upper']:+,.1f}")
        console.print(table)
        if ranges:
            console.print("gain range from the status-quo forecast's interval: " + "; ".join(ranges),
                          highlight=False)
        console.print(score.attribution, highlight=False)
    for alert in outcome.alerts:
        console.print(f"[bold yellow]alert[/] ({alert.kind}): {alert}", highlight=False)
    if not outcome.alerts:
        console.print("no alerts: inputs, referrals, outcomes and calibration within their limits")
    for note in outcome.notes:
        errors.print(f"[yellow]note:[/] {note}", highlight=False)
    if outcome.proposal is not None:
        moved = sum(abs(a["change"]) for a in outcome.proposal["allocations"]) / 2
        console.print(f"proposal for {outcome.proposal['provenance']['forecast_period']}: plan "
                      f"{outcome.proposal_plan_id} moves {moved:,.0f}; see it with `carealloc recommend` or the "
                      "allocator page")
