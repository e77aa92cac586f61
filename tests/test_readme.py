"""The README's examples run against the demo world (the simulator at the demo's size and seed), so they cannot
drift: the constraints file, the curl calls, the pilot spec, and every `carealloc` command line it shows."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from carealloc.cli import app as cli
from core.settings import Settings
from serving.app import create_app
from serving.keys import new_key
from serving.settings import ServiceSettings
from serving.state import LoadedBundle

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README, flags=re.S | re.M)


def _block_after(words: str, language: str) -> str:
    start = README.index(words)
    return re.findall(rf"^```{language}\n(.*?)^```", README[start:], flags=re.S | re.M)[0]


@pytest.fixture(scope="module")
def demo_world() -> tuple[Any, Any]:
    from synthetic.plan import build_plan
    from synthetic.simulate import simulate_episodes

    settings = Settings()
    return simulate_episodes(build_plan("mental-health", settings.demo_episodes, seed=settings.seed))


@pytest.fixture(scope="module")
def demo_bundle(demo_world: tuple[Any, Any]) -> Any:
    """A small, quick fit on the demo world: the examples test constraints and shapes, not model quality."""
    from models.bundle import make_bundle
    from models.forecast import build_forecaster
    from models.suite import fit_suite

    programs, episodes = demo_world
    suite = fit_suite(programs, episodes, {"n_estimators": 30, "learning_rate": 0.1, "num_leaves": 15,
                                           "min_child_samples": 40}, seed=0)
    forecaster = build_forecaster(programs, episodes, suite.response, suite.dropout, suite.reach)
    bundle = make_bundle(forecaster, suite, programs, episodes)
    bundle.model_version = "1"
    return bundle


def test_the_constraints_example_is_feasible_on_the_demo_world(demo_bundle: Any) -> None:
    from usecases.recommendation import RecommendationRequest, recommend

    body = json.loads(_block_after("The constraints file", "json"))
    result = recommend(demo_bundle, RecommendationRequest.model_validate(body))
    funding = {row["program_id"]: row["recommended_funding"] for row in result["allocations"]}
    assert sum(funding.values()) == pytest.approx(body["budget"], rel=1e-6)
    assert body["programs"]["P001"]["min"] - 1 <= funding["P001"] <= body["programs"]["P001"]["max"] + 1


def test_the_openapi_example_is_the_readme_example() -> None:
    from usecases.recommendation import RecommendationRequest

    extra = RecommendationRequest.model_config.get("json_schema_extra")
    assert isinstance(extra, dict)
    assert extra["examples"] == [json.loads(_block_after("The constraints file", "json"))]


def test_the_demo_world_numbers_in_the_readme_hold(demo_world: tuple[Any, Any]) -> None:
    programs, _ = demo_world
    current = programs.loc[programs["period"] == programs["period"].max(), "funding"].sum()
    for figure in (current, 0.7 * current, 1.3 * current):
        assert f"{figure:,.0f}" in README


def _curl_calls() -> list[list[str]]:
    text = _block_after("## HTTP API", "bash").replace("\\\n", " ")
    return [shlex.split(command) for command in re.split(r"\n(?=curl )", text.strip())]


@pytest.fixture
def demo_service(demo_bundle: Any, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    made = {role: new_key(role) for role in ("allocator", "clinician", "data_scientist")}  # type: ignore[arg-type]
    settings = ServiceSettings(data_dir=tmp_path, api_keys=tuple(record for _, record in made.values()),
                               audit_url=f"sqlite:///{tmp_path / 'audit.db'}", tracking_uri="sqlite:///unused.db")
    loaded = LoadedBundle(demo_bundle, "1", "carealloc", "provided", ("champion",))
    with TestClient(create_app(settings, loader=lambda *, allow_cache: loaded)) as client:
        yield client, {f"${role.upper()}_KEY": key for role, (key, _) in made.items()}


def test_the_curl_examples_succeed(demo_service: tuple[TestClient, dict[str, str]]) -> None:
    client, keys = demo_service
    calls = _curl_calls()
    assert len(calls) == 2
    for call in calls:
        headers = dict(h.split(": ", 1) for h in (call[i + 1] for i, a in enumerate(call) if a == "-H"))
        headers = {name: keys.get(value, value) for name, value in headers.items()}
        body = call[call.index("-d") + 1]
        url = next(a for a in call if a.startswith("http://127.0.0.1:8000/"))
        answer = client.post(url.removeprefix("http://127.0.0.1:8000"), content=body, headers=headers)
        assert answer.status_code == 200, (url, answer.text)


def test_the_pilot_example_runs_on_the_demo_world(demo_world: tuple[Any, Any], tmp_path: Path) -> None:
    from features.tables import write_tables

    programs, episodes = demo_world
    write_tables(tmp_path / "data", programs, episodes, "parquet")
    spec = tmp_path / "pilot.json"
    spec.write_text(_block_after("## Pilot evaluation", "json"))
    result = CliRunner().invoke(cli, ["pilot", "--data", str(tmp_path / "data"), "--spec", str(spec)])
    assert result.exit_code == 0, result.output


def _command_lines() -> Iterator[str]:
    for block in _blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith("carealloc "):
                yield line.split("#")[0]
    for cell in re.findall(r"^\| `(carealloc [^|]*)` \|", README, flags=re.M):
        yield from re.findall(r"(carealloc [^`]+)", cell)


def test_every_carealloc_command_line_names_real_commands_and_options() -> None:
    root: Any = typer.main.get_command(cli)  # typer's own click: groups are told by their `commands`
    checked = 0
    for line in _command_lines():
        words = re.sub(r"\[|\]", " ", line.replace("\\|", "|")).split()[1:]
        command = root
        while hasattr(command, "commands") and words and words[0] in command.commands:
            command = command.commands[words.pop(0)]
        assert not hasattr(command, "commands"), line
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for word in words:
            option = word.split("=")[0]
            if option.startswith("--"):
                assert option in known, f"{line}: {option} is not an option of {command.name}"
        checked += 1
    assert checked >= 15


def test_the_saved_scenario_and_export_examples_succeed(demo_service: tuple[TestClient, dict[str, str]]) -> None:
    from io import BytesIO

    from openpyxl import load_workbook

    client, keys = demo_service
    text = _block_after("### Saved scenarios and exports", "bash").replace("\\\n", " ")
    calls = [shlex.split(command) for command in re.split(r"\n(?=curl )", text.strip())]
    assert len(calls) == 3
    answers = []
    for call in calls:
        headers = dict(h.split(": ", 1) for h in (call[i + 1] for i, a in enumerate(call) if a == "-H"))
        headers = {name: keys.get(value, value) for name, value in headers.items()}
        url = next(a for a in call if a.startswith("http://127.0.0.1:8000/")).removeprefix("http://127.0.0.1:8000")
        if "-d" in call:
            answer = client.post(url, content=call[call.index("-d") + 1], headers=headers)
        else:
            answer = client.get(url, headers=headers)
        assert answer.status_code in (200, 201), (url, answer.text)
        answers.append(answer)
    saved = answers[0].json()
    assert answers[0].status_code == 201 and saved["shared"] and saved["request"]["groups"][0]["min_share"] == 0.15
    assert [s["scenario_id"] for s in answers[1].json()["scenarios"]] == [saved["scenario_id"]]
    sheet = load_workbook(BytesIO(answers[2].content))["Allocation"]
    assert sheet["A1"].value == "# model version" and sheet["B1"].value == "1"
