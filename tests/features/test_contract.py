"""The input contract: valid data passes; each kind of bad input is one clear problem naming file/column/rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from carealloc.cli import app
from features.contract import ContractError, validate_tables
from features.tables import load_tables, write_tables


def problems_of(programs: pd.DataFrame, episodes: pd.DataFrame) -> list[str]:
    with pytest.raises(ContractError) as info:
        validate_tables(programs, episodes, programs_file="programs.parquet", episodes_file="episodes.parquet")
    return [str(p) for p in info.value.problems]


def test_simulated_world_is_valid_in_both_formats(tmp_path: Path, small_world) -> None:
    _, programs, episodes = small_world
    for fmt in ("csv", "parquet"):
        write_tables(tmp_path / fmt, programs, episodes, fmt)
        tables = load_tables(tmp_path / fmt)
        assert len(tables.episodes) == len(episodes)
        assert tables.episodes["dropped_out"].dtype == "boolean"
        assert tables.programs["referrals"].dtype == "Int64"
        assert "deprivation_decile" in tables.episodes.columns  # extra columns are kept
    assert load_tables(tmp_path / "csv").snapshot.periods == load_tables(tmp_path / "parquet").snapshot.periods


@pytest.mark.parametrize(
    ("table", "column", "value", "expected"),
    [
        ("episodes", "baseline_score", "abc", "column 'baseline_score': 1 row(s) are not a number"),
        ("episodes", "baseline_score", 40.0, "range; expected 0 to"),
        ("episodes", "instrument", "HAM-D", "unregistered instrument"),
        ("episodes", "sessions_attended", 2.5, "not whole numbers"),
        ("episodes", "dropped_out", "maybe", "not true/false"),
        ("episodes", "satisfaction", 11.0, "column 'satisfaction': 1 row(s) are out of range"),
        ("episodes", "final_score", float("inf"), "infinite"),
        ("programs", "funding", -1.0, "column 'funding': 1 row(s) are out of range; expected a number >= 0"),
        ("programs", "period", "2024Q3", "not periods like 2025-Q3"),
        ("programs", "program_id", "", "column 'program_id': 1 row(s) are empty"),
    ],
)
def test_bad_values_name_file_column_and_row(small_world, table: str, column: str, value: object,
                                             expected: str) -> None:
    _, programs, episodes = small_world
    frames = {"programs": programs.copy(), "episodes": episodes.copy()}
    frame = frames[table]
    frame[column] = frame[column].astype(object)
    frame.loc[3, column] = value
    found = problems_of(frames["programs"], frames["episodes"])
    match = [p for p in found if expected in p]
    assert match, found
    assert match[0].startswith(f"{table}.parquet")
    assert "rows 4" in match[0]  # 1-based row of the offending value


def test_missing_column_duplicate_keys_and_dangling_episodes(small_world) -> None:
    _, programs, episodes = small_world
    found = problems_of(programs.drop(columns="modality"), episodes)
    assert any("column 'modality': required column is missing" in p for p in found)

    dup = pd.concat([programs, programs.iloc[[0]]], ignore_index=True)
    assert any("repeat a (program_id, period) pair" in p for p in problems_of(dup, episodes))

    eps = episodes.copy()
    eps.loc[0, "program_id"] = "NOPE"
    assert any("not in programs.parquet" in p and "rows 1" in p for p in problems_of(programs, eps))

    eps = episodes.copy()
    eps.loc[5, "episode_id"] = eps.loc[6, "episode_id"]
    assert any("repeat an episode_id" in p for p in problems_of(programs, eps))


def test_empty_table_and_every_problem_reported_at_once(small_world) -> None:
    _, programs, episodes = small_world
    found = problems_of(programs.iloc[:0], episodes.assign(baseline_score=-3.0))
    assert any("has no data rows" in p for p in found)
    assert any("outside the" in p for p in found)


def test_csv_problems_are_reported_as_file_lines(tmp_path: Path, small_world) -> None:
    _, programs, episodes = small_world
    eps = episodes.assign(age=episodes["age"].astype(object))
    eps.loc[9, "age"] = "old"
    write_tables(tmp_path, programs, eps, "csv")
    with pytest.raises(ContractError) as info:
        load_tables(tmp_path)
    text = str(info.value)
    assert "episodes.csv, column 'age'" in text and "lines 11" in text  # header is line 1


def test_cli_exit_codes_and_no_traceback(tmp_path: Path, world_dir: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["validate", str(world_dir)])
    assert ok.exit_code == 0, ok.output
    assert "valid:" in ok.output

    (tmp_path / "empty").mkdir()
    bad = runner.invoke(app, ["validate", str(tmp_path / "empty")])
    assert bad.exit_code == 1
    assert "has no programs.csv or programs.parquet" in bad.output
    assert "Traceback" not in bad.output

    both = world_dir / "programs.parquet"
    pd.read_csv(world_dir / "programs.csv").to_parquet(both)
    twice = runner.invoke(app, ["validate", str(world_dir)])
    assert twice.exit_code == 1 and "has both programs.csv and programs.parquet" in twice.output

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "programs.parquet").write_bytes(b"not parquet at all")
    (broken / "episodes.csv").write_text("episode_id\n")
    garbled = runner.invoke(app, ["validate", str(broken)])
    assert garbled.exit_code == 1 and "could not be read" in garbled.output and "Traceback" not in garbled.output


@pytest.mark.parametrize(("content", "expected"), [
    (b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256)) * 8, "is not a text CSV file (it holds binary data)"),
    (b"PAR1\x15\x04\x15\x10" + bytes(200), "is a Parquet file, not CSV; name it .parquet"),
])
def test_a_binary_file_named_csv_is_refused_without_echoing_its_bytes(tmp_path: Path, world_dir: Path,
                                                                      content: bytes, expected: str) -> None:
    (world_dir / "programs.csv").write_bytes(content)
    result = CliRunner().invoke(app, ["validate", str(world_dir)])
    assert result.exit_code == 1 and expected in result.output
    assert "\x00" not in result.output and "\x7f" not in result.output and "ELF" not in result.output


def test_a_parser_error_shows_control_characters_as_escapes() -> None:
    from features.tables import parser_message

    message = parser_message(ValueError("CSV parse error: Expected 2 columns, got 3: a\x1b[31m,b,c\x07"))
    assert message.isprintable() and "\\x1b[31m" in message and "\\x07" in message


def test_one_bad_period_is_not_also_called_a_mix(small_world) -> None:
    _, programs, episodes = small_world
    programs = programs.copy()
    programs.loc[3, "period"] = "spring 2024"  # no "Q": it used to count as a monthly period among quarters
    found = problems_of(programs, episodes)
    assert any("not periods like 2025-Q3" in p for p in found)
    assert not any("mixes quarterly" in p for p in found), found
    programs.loc[4, "period"] = "2024-07"
    assert any("mixes quarterly" in p for p in problems_of(programs, episodes))
