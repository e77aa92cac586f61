"""Payer contracts as data: every inconsistency named by contract and field, payments by tier, measured metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.contracts import ContractsError, load_contracts, measured, parse_contracts
from features.outcomes import derive_outcomes

GOOD: dict[str, Any] = {
    "contract_id": "BH-PHQ", "payer": "Commercial plan A",
    "population": {"payer": "commercial", "instrument": "PHQ-9", "min_baseline": 10},
    "metric": "reliable_improvement", "target": 0.4,
    "tiers": [{"threshold": 0.4, "lump_sum": 10_000}, {"threshold": 0.5, "lump_sum": 5_000, "per_point": 1_000}],
    "penalty": {"below": 0.3, "lump_sum": 2_000},
}


def test_a_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "contracts.json"
    path.write_text(json.dumps({"contracts": [GOOD]}))
    (contract,) = load_contracts(path).contracts
    assert contract.population.min_baseline == 10 and contract.min_sample == 30


@pytest.mark.parametrize(("change", "expected"), [
    ({"target": 1.4}, "contract 'BH-PHQ': target must be a rate between 0 and 1, got 1.4"),
    ({"tiers": [{"threshold": 0.5}, {"threshold": 0.45}]},
     "tiers[1].threshold must be above tiers[0].threshold (0.5), got 0.45"),
    ({"penalty": {"below": 0.45}}, "penalty.below (0.45) must not be above the target (0.4)"),
    ({"tiers": [], "penalty": None}, "a contract needs tiers or a penalty"),
    ({"population": {"instrument": "PHQ-10"}}, "contract 'BH-PHQ' population: instrument must be one of"),
    ({"population": {"instrument": "PHQ-9", "min_baseline": 40}}, "min_baseline must lie on PHQ-9's scale (0-27)"),
    ({"population": {"min_baseline": 10}}, "min_baseline needs an instrument"),
    ({"metric": "happiness"}, "contract 'BH-PHQ' metric: Input should be"),
    ({"tiers": [{"threshold": 0.4, "lump_sum": -5}]},
     "contract 'BH-PHQ' tiers[0].lump_sum: Input should be greater than or equal to 0"),
    ({"min_sample": 0}, "contract 'BH-PHQ' min_sample"),
])
def test_each_inconsistency_names_the_contract_and_field(change: dict[str, Any], expected: str) -> None:
    with pytest.raises(ContractsError) as refused:
        parse_contracts({"contracts": [{**GOOD, **change}]}, "contracts.json")
    assert expected.removeprefix("contract 'BH-PHQ': ") in str(refused.value)
    assert str(refused.value).startswith("contracts.json: contract 'BH-PHQ'")


def test_problems_of_several_contracts_are_all_reported_and_ids_unique() -> None:
    with pytest.raises(ContractsError) as refused:
        parse_contracts({"contracts": [{**GOOD, "target": 2}, {**GOOD, "contract_id": "B", "metric": "x"},
                                       {"payer": "no id"}]})
    text = str(refused.value)
    assert "contract 'BH-PHQ'" in text and "contract 'B' metric" in text and "contracts[2] contract_id" in text
    with pytest.raises(ContractsError, match="repeated: BH-PHQ"):
        parse_contracts({"contracts": [GOOD, GOOD]})


def test_unreadable_and_malformed_files_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "c.json"
    broken.write_text('{"contracts": [')
    with pytest.raises(ContractsError, match=r"c.json: not valid JSON at line 1"):
        load_contracts(broken)
    with pytest.raises(ContractsError, match="cannot read the file"):
        load_contracts(tmp_path / "missing.json")


def test_payments_follow_tiers_penalty_and_small_numbers() -> None:
    (contract,) = parse_contracts({"contracts": [GOOD]}).contracts
    assert contract.payment(0.35, 100) == 0.0  # between the penalty floor and the target
    assert contract.payment(0.42, 100) == pytest.approx(10_000)
    assert contract.payment(0.53, 100) == pytest.approx(10_000 + 5_000 + 3 * 1_000)
    assert contract.payment(0.2, 100) == pytest.approx(-2_000)
    assert contract.payment(0.9, 29) == 0.0  # below min_sample nothing is paid or charged


def test_measured_metric_counts_only_the_population(small_world: Any) -> None:
    _, _, episodes = small_world
    (contract,) = parse_contracts({"contracts": [GOOD]}).contracts
    table = measured(contract, episodes)
    rows = ((episodes["payer"] == "commercial") & (episodes["instrument"] == "PHQ-9")
            & (episodes["baseline_score"] >= 10))
    chosen = episodes[rows]
    flags = derive_outcomes(chosen["instrument"], chosen["baseline_score"], chosen["final_score"])
    expected = flags["reliable_improvement"].astype(float).groupby(chosen["period"].astype(str).to_numpy()).mean()
    got = table.set_index("period")["value"]
    pd.testing.assert_series_equal(got.loc[expected.index], expected, check_names=False)
    assert table["n"].sum() == rows.sum()
    completed = parse_contracts({"contracts": [{**GOOD, "population": {**GOOD["population"],
                                                                       "basis": "completed"}}]}).contracts[0]
    done = measured(completed, episodes)
    assert (done["n"].to_numpy() <= table.set_index("period").loc[done["period"], "n"].to_numpy()).all()
    assert (done["value"].to_numpy() >= 0).all() and np.isfinite(done["value"]).all()
