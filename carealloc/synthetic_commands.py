"""`carealloc simulate` and the truth beside simulated data: the only production modules that reach the simulator.

The demo runs on a simulated world, and on such a world `train` and `evaluate` can score against its truth; both
need the `synthetic` package, which nothing below the CLI may import (tests/test_layers.py).
"""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from carealloc.terminal import console, errors

if TYPE_CHECKING:
    from training.truth import TruthReference


class PresetName(StrEnum):
    mental_health = "mental-health"
    physical_therapy = "physical-therapy"
    physical_therapy_clinics = "physical-therapy-clinics"


class FileFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


def simulate(
    out: Annotated[Path, typer.Option(help="Folder to write programs.*, episodes.*, truth.json and the world's "
                                           "payer contracts (contracts.json) into.")],
    preset: Annotated[PresetName, typer.Option(help="Which synthetic world.")] = PresetName.mental_health,
    episodes: Annotated[int, typer.Option(min=1, max=50_000_000, help="Approximate number of episodes.")] = 50_000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; the same seed gives the same files.")] = 0,
    fmt: Annotated[FileFormat, typer.Option("--format", help="File format of the tables.")] = FileFormat.parquet,
    partitions: Annotated[int | None, typer.Option(
        min=1, max=10_000, help="Write episodes/ as this many Parquet parts, one at a time (bounded memory).")] = None,
    regime: Annotated[str, typer.Option(
        help="How money works in the world: smooth (calibrated), saturated, overhead, waits, dose_response or "
             "demand_following (synthetic/regimes.py).")] = "smooth",
) -> None:
    """Write a synthetic world whose true funding response is known (truth.json)."""
    from features.tables import write_partitioned, write_tables
    from synthetic.contracts import CONTRACTS
    from synthetic.plan import build_plan
    from synthetic.regimes import REGIMES
    from synthetic.simulate import programs_table, simulate_episode_partitions, simulate_episodes
    from synthetic.truth import Truth

    if regime not in REGIMES:
        errors.print(f"[bold red]--regime must be one of {', '.join(REGIMES)}; got {regime!r}[/]")
        raise typer.Exit(2)
    started = time.perf_counter()
    plan = build_plan(preset.value, episodes, seed, regime)
    if partitions is not None:
        if fmt is not FileFormat.parquet:
            errors.print("[bold red]--partitions writes Parquet parts; drop --format csv[/]")
            raise typer.Exit(2)
        programs = programs_table(plan)
        written = write_partitioned(out, programs, simulate_episode_partitions(plan, partitions))
    else:
        programs, episode_table = simulate_episodes(plan)
        write_tables(out, programs, episode_table, fmt.value)
        written = len(episode_table)
    Truth(plan).save(out)
    # The clinic-category world has the physical-therapy world's patients, instruments and payers, so its contracts.
    contracts = CONTRACTS.get(preset.value) or CONTRACTS["physical-therapy"]
    (out / "contracts.json").write_text(json.dumps(contracts, indent=2) + "\n", encoding="utf-8")
    layout = f" in {partitions} parts" if partitions is not None else ""
    console.print(f"wrote {len(programs):,} programme-periods and {written:,} episodes{layout} "
                  f"({preset.value}, {regime}, seed {seed}) to {out} in {time.perf_counter() - started:.1f} s")


def truth_beside(data: Path) -> TruthReference | None:
    """The truth a `simulate` wrote into `data`, for the jobs to score against; None for real data."""
    from synthetic.reference import SyntheticTruth

    return SyntheticTruth.beside(data)
