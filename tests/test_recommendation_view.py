"""`carealloc recommend`'s printout: the table fits 80 columns uncut, the rules it applied are named, and every
figure beside the objective says its unit."""

from __future__ import annotations

from typing import Any

import pytest
from rich.console import Console

from carealloc.cli import DEMO_REQUEST
from carealloc.recommendation_view import print_recommendation
from usecases.recommendation import RecommendationRequest, recommend


def _printed(bundle: Any, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    request = RecommendationRequest.model_validate(body)
    result = recommend(bundle, request)
    console = Console(width=80, soft_wrap=True)  # as the CLI's console, in an 80-column log
    with console.capture() as captured:
        print_recommendation(console, result, request)
    return captured.get(), result


def test_the_table_fits_80_columns_without_cutting_values(trained: Any) -> None:
    text, result = _printed(trained[2], DEMO_REQUEST)
    table = text.split("\nrules applied")[0].split("\n")
    assert max(len(line) for line in table) <= 80
    assert "…" not in text and "..." not in text
    for row in result["allocations"]:
        ri = row["expected_reliable_improvements"]
        line = next(line for line in table if line.split()[:1] == [row["program_id"]])
        assert f"{row['recommended_funding']:,.0f}" in line
        assert f"{ri['value']:.1f} ({ri['lower']:.1f}-{ri['upper']:.1f})" in line


def test_the_summary_names_the_rural_floor_and_the_units(trained: Any) -> None:
    text, result = _printed(trained[2], DEMO_REQUEST)
    assert "at least 5% of the budget to region = rural" in text
    assert "each programme within +/-30% of its current funding" in text
    assert "under the same constraints, in reliable improvements:" in text
    assert f"recommended plan: {result['objective_value']:,.1f}" in text
    assert f"adds about {result['shadow_price']:.3f} reliable improvements" in text


def test_a_weighted_objective_is_not_called_reliable_improvements(trained: Any) -> None:
    body = {**DEMO_REQUEST, "objective": {"kind": "weighted",
                                          "weights": {"reliable_improvements": 1.0, "dropouts": 0.5}}}
    text, result = _printed(trained[2], body)
    unit = "objective points (0.5 x dropouts avoided + 1 x reliable improvements)"
    assert f"under the same constraints, in {unit}:" in text
    if result["shadow_price"] is not None:
        assert f"{result['shadow_price']:.3f} {unit}" in " ".join(text.split())
    assert "reliable improvements:" not in text.split("under the same constraints")[1].split("\n")[0]


@pytest.mark.parametrize(("objective", "unit"), [
    ({"kind": "risk_averse", "quantile_metric": "reliable_improvements_lower", "description": ""},
     "reliable improvements at the lower end of their interval"),
    ({"kind": "reliable_improvements"}, "reliable improvements"),
])
def test_objective_units(objective: dict[str, Any], unit: str) -> None:
    from carealloc.recommendation_view import objective_unit

    assert objective_unit(objective) == unit


@pytest.mark.parametrize(("probability", "shown"), [(1.0, "> 99 %"), (0.9996, "> 99 %"), (0.9, "90 %"),
                                                    (0.004, "< 1 %"), (0.0, "< 1 %")])
def test_a_chance_near_certain_is_not_printed_as_certain(trained: Any, probability: float, shown: str) -> None:
    request = RecommendationRequest.model_validate(DEMO_REQUEST)
    result = {**recommend(trained[2], request), "probability_beats_status_quo": probability}
    console = Console(width=80, soft_wrap=True)
    with console.capture() as captured:
        print_recommendation(console, result, request)
    assert f"P(plan beats status quo) = {shown}" in captured.get()
    assert "100 %" not in captured.get() and "= 0 %" not in captured.get()
