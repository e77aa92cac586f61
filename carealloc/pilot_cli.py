"""`carealloc pilot`: did a budget change work? Kept beside cli.py so the command stays one line there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from carealloc.terminal import console, errors, print_contract_problems, refuse_file


def pilot(
    data: Annotated[Path, typer.Option(help="Folder with programs.* and episodes.* (validated first).")],
    spec: Annotated[Path, typer.Option(help="JSON pilot spec: pilot_programs, pre_periods, post_periods, controls "
                                            '(a list or "auto"), expected_effect (same shape as the HTTP body\'s '
                                            "spec).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of pilot vs control over periods here.")] = None,
) -> None:
    """Evaluate a pilot: pre-post and difference-in-differences against controls, power and trend checks."""
    from pydantic import ValidationError
    from rich.table import Table

    from features.contract import ContractError
    from features.tables import load_tables
    from pilots import PilotInputError, PilotSpec, evaluate_pilot, program_period_aggregates
    from pilots.report import EFFECT_COLUMNS, effect_rows, inference_note, plot_series

    try:
        pilot_spec = PilotSpec.model_validate(json.loads(spec.read_text()))
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        refuse_file(spec, exc, "pilot spec", code=1)
    try:
        tables = load_tables(data)
    except ContractError as exc:
        print_contract_problems(data, exc)
        raise typer.Exit(1) from None
    try:
        result = evaluate_pilot(pilot_spec, program_period_aggregates(tables.programs, tables.episodes))
    except PilotInputError as exc:
        errors.print(f"[bold red]{spec}: {exc.field}:[/] {exc.message}", highlight=False)
        raise typer.Exit(1) from None
    if plot is not None:
        plot_series(result, plot)
    if as_json:
        console.print_json(json.dumps(result.to_dict(), default=float))
    else:
        level = f"{1 - pilot_spec.alpha:.0%}"
        table = Table(title=f"Pilot {', '.join(result.pilot_programs)} vs {len(result.control_programs)} controls "
                            f"({min(pilot_spec.pre_periods)}..{max(pilot_spec.pre_periods)} -> "
                            f"{min(pilot_spec.post_periods)}..{max(pilot_spec.post_periods)})")
        for column in EFFECT_COLUMNS:
            table.add_column(column.replace("95%", level), justify="left" if column == "outcome" else "right")
        for row in effect_rows(result):
            table.add_row(*row)
        console.print(table)
        console.print(inference_note(result))
        console.print(f"controls: {', '.join(result.control_programs)}")
        before, after = result.power_before, result.power_after
        console.print(f"minimum detectable effect on the ITT reliable-improvement rate ({pilot_spec.power:.0%} "
                      f"power): {before.mde:.3f} as designed" + (f", {after.mde:.3f} after the fact" if after else ""))
        if result.parallel_trends is not None:
            trend = result.parallel_trends
            console.print(f"parallel trends (pre periods): pilot minus control slope {trend.estimate:+.4f} per "
                          f"period, p = {trend.p_value:.3f}")
    for warning in result.warnings:
        errors.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
    if plot is not None:
        errors.print(f"plot written to {plot}", highlight=False)
