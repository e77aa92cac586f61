"""`carealloc pilot` end to end on a small synthetic folder: table, JSON, plot, and exit 1 for bad specs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carealloc.cli import app
from pilots.estimators import METHOD

SPEC = {"pilot_programs": ["P001", "P002", "P003"], "pre_periods": ["2024-Q1", "2024-Q2", "2024-Q3", "2024-Q4"],
        "post_periods": ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"], "controls": "auto", "expected_effect": 0.02}


def _spec(tmp_path: Path, **change: object) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({**SPEC, **change}))
    return path


def test_pilot_table_json_and_plot(world_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    spec = _spec(tmp_path)
    table = runner.invoke(app, ["pilot", "--data", str(world_dir), "--spec", str(spec)])
    assert table.exit_code == 0, table.output
    assert "diff-in-diff" in table.output and "dropout rate" in table.output
    assert "minimum detectable effect" in table.output
    assert f"intervals and p-values: {METHOD}" in " ".join(table.output.split())
    assert "warning: pilot too small" in table.output  # 3 small programmes cannot show 2 points

    plot = tmp_path / "out" / "pilot.png"
    as_json = runner.invoke(app, ["pilot", "--data", str(world_dir), "--spec", str(spec), "--json", "--plot",
                                  str(plot)])
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    assert body["pilot_programs"] == SPEC["pilot_programs"] and len(body["control_programs"]) == 6
    assert [e["metric"] for e in body["effects"]][:2] == ["reliable_improvement_itt", "reliable_improvement_completers"]
    did = body["effects"][0]["difference_in_differences"]
    assert did["ci_low"] <= did["estimate"] <= did["ci_high"] and 0 <= did["p_value"] <= 1
    assert did["method"] == METHOD
    assert body["power"]["before"]["mde"] > 0 and body["parallel_trends"] is not None
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(("change", "message"), [
    ({"controls": ["P001", "P004"]}, "pilot and control groups overlap"),
    ({"pre_periods": ["2023-Q4"]}, "pre_periods: ['2023-Q4'] not in the data"),
    ({"controls": ["P004"]}, "controls: 1 control programme(s) (P004)"),
    ({"pilot_programs": ["P001", "NOPE"]}, "pilot_programs: unknown programme(s) ['NOPE']"),
])
def test_bad_spec_exits_1_with_a_clear_message(world_dir: Path, tmp_path: Path, change: dict[str, object],
                                               message: str) -> None:
    result = CliRunner().invoke(app, ["pilot", "--data", str(world_dir), "--spec", str(_spec(tmp_path, **change))])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_unreadable_spec_exits_1(world_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = CliRunner().invoke(app, ["pilot", "--data", str(world_dir), "--spec", str(broken)])
    assert result.exit_code == 1 and "cannot read" in result.output
