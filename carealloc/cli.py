"""The `carealloc` command: thin Typer commands over the packages; no logic of its own beyond presenting."""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from carealloc.settings import Settings

app = typer.Typer(help="Learn how outcomes respond to funding and recommend budget allocations.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


class PresetName(StrEnum):
    mental_health = "mental-health"
    physical_therapy = "physical-therapy"


class FileFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write programs.*, episodes.* and truth.json into.")],
    preset: Annotated[PresetName, typer.Option(help="Which synthetic world.")] = PresetName.mental_health,
    episodes: Annotated[int, typer.Option(min=1, max=50_000_000, help="Approximate number of episodes.")] = 50_000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; the same seed gives the same files.")] = 0,
    fmt: Annotated[FileFormat, typer.Option("--format", help="File format of the tables.")] = FileFormat.parquet,
) -> None:
    """Write a synthetic world whose true funding response is known (truth.json)."""
    from features.tables import write_tables
    from features.world.plan import build_plan
    from features.world.simulate import simulate_episodes
    from features.world.truth import Truth

    started = time.perf_counter()
    plan = build_plan(preset.value, episodes, seed)
    programs, episode_table = simulate_episodes(plan)
    write_tables(out, programs, episode_table, fmt.value)
    Truth(plan).save(out)
    console.print(f"wrote {len(programs):,} programme-periods and {len(episode_table):,} episodes "
                  f"({preset.value}, seed {seed}) to {out} in {time.perf_counter() - started:.1f} s")


@app.command()
def validate(data: Annotated[Path, typer.Argument(help="Folder with programs.* and episodes.*")]) -> None:
    """Check a data folder against the input contract; exit 1 listing every problem."""
    from features.contract import ContractError
    from features.tables import load_tables

    try:
        tables = load_tables(data)
    except ContractError as exc:
        errors.print(f"[bold red]{len(exc.problems)} problem(s) in {data}:[/]")
        for problem in exc.problems:
            errors.print(f"  - {problem}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    snap = tables.snapshot
    console.print(f"valid: {snap.programs_rows:,} programme-periods, {snap.episodes_rows:,} episodes, "
                  f"periods {snap.periods[0]}..{snap.periods[-1]}, sha256 {snap.sha256[:12]}")


@app.command()
def demo() -> None:
    """The main job on embedded defaults: simulate a world, then run every stage that exists on it."""
    settings = Settings()
    simulate(out=settings.sample_dir, preset=PresetName.mental_health, episodes=settings.demo_episodes,
             seed=settings.seed, fmt=FileFormat.parquet)
    validate(settings.sample_dir)
