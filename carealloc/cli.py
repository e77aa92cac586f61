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
        _print_contract_problems(data, exc)
        raise typer.Exit(1) from None
    snap = tables.snapshot
    console.print(f"valid: {snap.programs_rows:,} programme-periods, {snap.episodes_rows:,} episodes, "
                  f"periods {snap.periods[0]}..{snap.periods[-1]}, sha256 {snap.sha256[:12]}")


def _print_contract_problems(data: Path, exc: Exception) -> None:
    problems = getattr(exc, "problems", [exc])
    errors.print(f"[bold red]{len(problems)} problem(s) in {data}:[/]")
    for problem in problems:
        errors.print(f"  - {problem}", markup=False, highlight=False)


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Folder with programs.* and episodes.* (validated first).")],
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Evaluate on a temporal holdout, fit on all data, log to MLflow, register and apply the promotion gate."""
    from rich.table import Table

    from features.contract import ContractError
    from training.train import train as run_training

    settings = Settings()
    try:
        result = run_training(data, settings, show_progress=show_progress)
    except ContractError as exc:
        _print_contract_problems(data, exc)
        raise typer.Exit(1) from None
    m, champion = result.metrics, result.gate.champion_metrics or {}
    table = Table(title=f"Holdout evaluation (model v{result.model_version}, run {result.run_id[:8]})")
    for column in ("metric", "model", "prior rate", "logistic", "current champion"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for model in ("response", "dropout"):
        for metric in ("auc", "log_loss", "brier", "ece"):
            key = f"{model}_{metric}"
            table.add_row(key, *(f"{v:.4f}" if v is not None else "-" for v in (
                m.get(key), m.get(f"{model}_prior_{metric}"), m.get(f"{model}_logistic_{metric}"), champion.get(key))))
    for key in ("holdout_score", "reach_episodes_mape", "ri_count_mape", "truth_curve_relative_mae"):
        if key in m:
            table.add_row(key, f"{m[key]:.4f}", "-", "-", f"{champion[key]:.4f}" if key in champion else "-")
    console.print(table)
    verdict = "[green]promoted to @champion[/]" if result.gate.promoted else "[yellow]kept as @challenger[/]"
    console.print(f"model v{result.model_version}: {verdict} - {result.gate.reason}")


@app.command()
def tune(
    data: Annotated[Path, typer.Option(help="Folder with programs.* and episodes.*.")],
    trials: Annotated[int, typer.Option(min=1, max=1000, help="Trials to add to the (resumable) study.")] = 20,
    timeout: Annotated[float | None, typer.Option(help="Stop adding trials after this many seconds.")] = None,
) -> None:
    """Optuna search over the LightGBM parameters; the best ones are used by the next `train`."""
    from features.contract import ContractError
    from training.tune import tune as run_tuning

    settings = Settings()
    try:
        result = run_tuning(data, settings, trials, timeout=timeout)
    except ContractError as exc:
        _print_contract_problems(data, exc)
        raise typer.Exit(1) from None
    console.print(f"best holdout score {result.best_score:.5f} after {result.n_trials_completed} completed "
                  f"({result.n_pruned} pruned) trials; parameters written to {settings.best_params_path}")


@app.command()
def demo() -> None:
    """The main job on embedded defaults: simulate a world, then run every stage that exists on it."""
    settings = Settings()
    simulate(out=settings.sample_dir, preset=PresetName.mental_health, episodes=settings.demo_episodes,
             seed=settings.seed, fmt=FileFormat.parquet)
    validate(settings.sample_dir)
    train(data=settings.sample_dir, show_progress=True)
