"""How `carealloc recommend` prints a recommendation: a table that fits an 80-column terminal, then the rules it
applied, the totals, the baselines and the marginal value of money, each figure in the units it is labelled with.

Flags go under the table (grouped by flag) rather than in a column, so long programme ids and intervals are never
cut to "..."; every figure beside the plan's own objective names the objective's unit.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from usecases.confidence import chance_text
from usecases.recommendation import RecommendationRequest


def objective_unit(objective: dict[str, Any]) -> str:
    """What one point of the objective is, in words ("reliable improvements", or the weighted sum spelled out)."""
    if objective["kind"] == "reliable_improvements":
        return "reliable improvements"
    if objective["kind"] == "risk_averse":
        metric = str(objective["quantile_metric"])
        if metric.endswith("_lower"):
            return f"{metric.removesuffix('_lower').replace('_', ' ')} at the lower end of their interval"
        return metric.replace("_", " ")
    return f"objective points ({objective['description'].replace('_', ' ')})"


def applied_rules(request: RecommendationRequest, result: dict[str, Any]) -> list[str]:
    """The constraints the plan was held to, as a committee would say them."""
    rules = [f"budget {result['budget']:,.0f} ({'all of it' if result['budget_mode'] == 'exact' else 'at most'})"]
    if request.max_change is not None:
        rules.append(f"each programme within +/-{request.max_change:.0%} of its current funding")
    for group in request.groups:
        share = " and ".join(part for part in (
            f"at least {group.min_share:.0%}" if group.min_share is not None else "",
            f"at most {group.max_share:.0%}" if group.max_share is not None else "") if part)
        rules.append(f"{share} of the budget to {group.column} = {group.value}")
    for program, limits in request.programs.items():
        parts = [f"min {limits.min:,.0f}" if limits.min is not None else "",
                 f"max {limits.max:,.0f}" if limits.max is not None else "",
                 "locked" if limits.locked else "", "no decrease" if limits.no_decrease else ""]
        rules.append(f"{program}: {', '.join(p for p in parts if p)}")
    if request.within_observed_range:
        rules.append("every programme within the funding it has been seen at")
    return rules


def recommendation_table(result: dict[str, Any]) -> Table:
    table = Table(title=f"Recommended allocation (budget {result['budget']:,.0f}, {result['budget_mode']})",
                  box=box.SIMPLE_HEAD, pad_edge=False)
    cells = []
    for row in result["allocations"]:
        ri = row["expected_reliable_improvements"]
        marginal = row["marginal_gain_per_1000"]
        cells.append((row["program_id"], f"{row['current_funding']:,.0f}", f"{row['recommended_funding']:,.0f}",
                      f"{row['change_pct']:+.0%}" if row["change_pct"] is not None else "new",
                      f"{ri['value']:.1f} ({ri['lower']:.1f}-{ri['upper']:.1f})",
                      f"{marginal:.3f}" if marginal is not None else "-"))
    headers = ("programme", "current", "recommended", "change", "reliable improvements (90% interval)",
               "gain per +1,000")
    for i, header in enumerate(headers):
        widest = max((len(c[i]) for c in cells), default=0)
        # a fixed width per column (its widest value or header word): rich's own split shares the room by ratio
        # and then cuts ids and intervals, while only the headers need to wrap
        table.add_column(header, justify="left" if i == 0 else "right", overflow="fold",
                         width=max(widest, max(len(word) for word in header.split())))
    for row_cells in cells:
        table.add_row(*row_cells)
    return table


def print_recommendation(console: Console, result: dict[str, Any], request: RecommendationRequest) -> None:
    console.print(recommendation_table(result), soft_wrap=False)  # the table wraps its headers to the width
    flagged: dict[str, list[str]] = {}
    for row in result["allocations"]:
        for flag in row["flags"]:
            flagged.setdefault(flag.replace("_", " "), []).append(row["program_id"])
    for flag, programs in flagged.items():
        console.print(f"{flag}: {', '.join(programs)}", markup=False, highlight=False)
    console.print("rules applied: " + "; ".join(applied_rules(request, result)), markup=False, highlight=False)
    plan, now = result["totals"]["plan"], result["totals"]["status_quo"]
    console.print(f"expected reliable improvements: plan {plan['reliable_improvements']:,.1f} vs status quo "
                  f"{now['reliable_improvements']:,.1f}; dropouts {plan['dropouts']:,.1f} vs {now['dropouts']:,.1f}; "
                  f"P(plan beats status quo) = {chance_text(result['probability_beats_status_quo'])}")
    unit = objective_unit(result["objective"])
    console.print(f"the plan against simple rules under the same constraints, in {unit}:", markup=False)
    console.print(f"  recommended plan: {result['objective_value']:,.1f}", highlight=False)
    for base in result["baselines"]:
        if base["objective_value"] is not None:
            console.print(f"  {base['name'].replace('_', ' ')}: {base['objective_value']:,.1f}", highlight=False)
    if result["shadow_price"] is not None:
        console.print(f"each extra 1,000 of budget adds about {result['shadow_price']:.3f} {unit}", markup=False)
    console.print("binding constraints: " + ("; ".join(result["binding_constraints"]) or "none"),
                  markup=False, highlight=False)
    gap, source = result["optimality_gap"], result["provenance"]
    console.print(f"optimality gap vs exact reference: {gap['relative']:.2e}; model {source['model_version']}, "
                  f"forecast period {source['forecast_period']}")
