"""The `carealloc` command: thin Typer commands over the packages; no logic of its own beyond presenting."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from carealloc.champion import load_model
from carealloc.keys_commands import keys_app
from carealloc.pilot_cli import pilot as pilot_command
from carealloc.recommendation_view import print_recommendation
from carealloc.report_cli import report as report_command
from carealloc.review_cli import review as review_command
from carealloc.synthetic_commands import FileFormat, PresetName, simulate, truth_beside
from carealloc.terminal import console, errors, print_contract_problems, refuse_file
from core.settings import Settings

DEMO_REQUEST: dict[str, Any] = {
    "budget_mode": "exact", "objective": {"kind": "reliable_improvements"}, "max_change": 0.3,
    "groups": [{"column": "region", "value": "rural", "min_share": 0.05}],
}

app = typer.Typer(help="Learn how outcomes respond to funding and recommend budget allocations.",
                  no_args_is_help=True, pretty_exceptions_enable=False)


class Engine(StrEnum):
    local = "local"
    dask = "dask"


EngineOption = Annotated[Engine | None, typer.Option(
    help="Where to run: this process (local) or a Dask cluster (dask); default from CAREALLOC_ENGINE.")]
SchedulerOption = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://host:8786); without it --engine dask starts a local 2-worker cluster.")]


def _settings(engine: Engine | None = None, scheduler: str | None = None) -> Settings:
    overrides: dict[str, Any] = {"engine": engine.value if engine is not None else None,
                                 "dask_scheduler": scheduler}
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


@app.command()
def validate(
    data: Annotated[Path, typer.Argument(help="Folder with programs.* and episodes.* (or episodes/ in parts)")],
    engine: EngineOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Check a data folder against the input contract; exit 1 listing every problem."""
    from features.contract import ContractError
    from features.tables import load_tables

    settings = _settings(engine, scheduler)
    try:
        if settings.engine == "dask":
            from training.distributed import PartitionedEpisodes, dask_client

            with dask_client(settings):
                snap = PartitionedEpisodes.open(data).snapshot
        else:
            snap = load_tables(data).snapshot
    except ContractError as exc:
        print_contract_problems(data, exc)
        raise typer.Exit(1) from None
    console.print(f"valid: {snap.programs_rows:,} programme-periods, {snap.episodes_rows:,} episodes, "
                  f"periods {snap.periods[0]}..{snap.periods[-1]}, sha256 {snap.sha256[:12]}")


@app.command()
def train(
    data: Annotated[Path, typer.Option(help="Folder with programs.* and episodes.* (validated first).")],
    show_progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    engine: EngineOption = None,
    scheduler: SchedulerOption = None,
) -> None:
    """Evaluate on a temporal holdout, fit on all data, log to MLflow, register and apply the promotion gate."""
    from rich.table import Table

    from features.contract import ContractError
    from training.train import train as run_training

    settings = _settings(engine, scheduler)
    try:
        result = run_training(data, settings, show_progress=show_progress, truth=truth_beside(data))
    except ContractError as exc:
        print_contract_problems(data, exc)
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
        print_contract_problems(data, exc)
        raise typer.Exit(1) from None
    console.print(f"best holdout score {result.best_score:.5f} after {result.n_trials_completed} completed "
                  f"({result.n_pruned} pruned) trials; parameters written to {settings.best_params_path}")


@app.command()
def recommend(
    constraints: Annotated[Path, typer.Option(help="JSON file: budget, budget_mode, objective, max_change, "
                                              "programs, groups (same shape as POST /v1/recommendations).")],
    data: Annotated[Path | None, typer.Option(help="Data folder to check against the model's training data.")] = None,
    budget: Annotated[float | None, typer.Option(min=0, help="Overrides the budget in the file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    model_uri: Annotated[str | None, typer.Option(help="Model to use; default the registered @champion.")] = None,
) -> None:
    """Recommend a split of the budget from the champion model's outcome curves."""
    import json

    from pydantic import ValidationError

    from allocation import InfeasibleConstraintsError
    from features.contract import ContractError
    from features.tables import load_tables
    from records.plans import PlanStore
    from usecases.recommendation import RecommendationRequest, UnknownProgramsError
    from usecases.recommendation import recommend as run_recommendation

    settings = Settings()
    try:
        raw = json.loads(constraints.read_text())
        if budget is not None:
            raw["budget"] = budget
        request = RecommendationRequest.model_validate(raw)
    except (OSError, json.JSONDecodeError, ValidationError) as exc:
        refuse_file(constraints, exc, "request", code=2)
    bundle = load_model(settings, model_uri)
    if data is not None:
        try:
            snapshot = load_tables(data).snapshot
        except ContractError as exc:
            print_contract_problems(data, exc)
            raise typer.Exit(1) from None
        if snapshot.sha256 != bundle.snapshot.get("sha256"):
            errors.print(f"[yellow]note:[/] {data} differs from the data model {bundle.model_version} was trained on "
                         f"({bundle.snapshot.get('periods', ['?'])[-1]}); retrain to use the newest periods")
    try:
        result = run_recommendation(bundle, request)
    except InfeasibleConstraintsError as exc:
        errors.print("[bold red]the constraints cannot all hold:[/]")
        for conflict in exc.conflicts:
            errors.print(f"  - {conflict}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    except UnknownProgramsError as exc:
        errors.print(f"[bold red]unknown programme(s):[/] {', '.join(exc.args[0])}; the model knows "
                     f"{', '.join(sorted(bundle.programs))}")
        raise typer.Exit(1) from None
    plans = PlanStore(settings.resolved_outcomes_url)
    try:  # kept so the quarter's review can score what this plan promised
        plan_id = plans.save(result, request.model_dump(mode="json"), issued_by="carealloc recommend")
    finally:
        plans.close()
    if as_json:
        console.print_json(json.dumps(result))
    else:
        print_recommendation(console, result, request)
    errors.print(f"plan stored as {plan_id} (scored by `carealloc review --period "
                 f"{result['provenance']['forecast_period']}`)", highlight=False)


@app.command()
def evaluate(
    data: Annotated[Path, typer.Option(help="Data folder; with truth.json (synthetic) the truth is used too.")],
    model_uri: Annotated[str | None, typer.Option(help="Model to evaluate; default the registered @champion.")] = None,
) -> None:
    """Score a registered model: against the truth (synthetic data) and on periods it was not trained on."""
    from training.evaluate import evaluate_model

    settings = Settings()
    bundle = load_model(settings, model_uri)
    metrics = evaluate_model(bundle, data, settings, truth=truth_beside(data))
    for key, value in sorted(metrics.items()):
        console.print(f"{key:>40} {value:.4f}")


@app.command()
def score(
    data: Annotated[Path, typer.Option(help="Folder with programs.* and episodes.* (or episodes/ in parts).")],
    out: Annotated[Path, typer.Option(help="New folder for the risk table (Parquet parts).")],
    engine: EngineOption = None,
    scheduler: SchedulerOption = None,
    model_uri: Annotated[str | None, typer.Option(help="Model to use; default the registered @champion.")] = None,
) -> None:
    """Dropout and non-response risk of every episode, keyed by episode_id, written as Parquet."""
    from features.contract import ContractError
    from training.scoring import ScoringError, score_population

    settings = _settings(engine, scheduler)
    bundle = load_model(settings, model_uri)
    started = time.perf_counter()
    try:
        rows = score_population(data, out, bundle, settings)
    except ContractError as exc:
        print_contract_problems(data, exc)
        raise typer.Exit(1) from None
    except ScoringError as exc:
        errors.print(f"[bold red]cannot score:[/] {exc}", highlight=False)
        raise typer.Exit(1) from None
    console.print(f"scored {rows:,} episodes with model {bundle.model_version} into {out} "
                  f"({settings.engine} engine, {time.perf_counter() - started:.1f} s)")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (default from settings: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (default from settings: 8000).")] = None,
) -> None:
    """Run the HTTP service over the registered @champion (keys from CAREALLOC_API_KEYS or the keys file)."""
    from pydantic import ValidationError

    from serving.app import NoApiKeysError, keyring_from_settings
    from serving.run import serve as run_service
    from serving.settings import ServiceSettings

    overrides: dict[str, Any] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    try:
        settings = ServiceSettings(**overrides)
        keyring_from_settings(settings)
    except ValidationError as exc:
        errors.print("[bold red]service settings are not valid:[/]")
        for err in exc.errors():
            errors.print(f"  - {'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}", markup=False)
        raise typer.Exit(2) from None
    except NoApiKeysError as exc:
        errors.print(f"[bold red]{exc}[/]")
        raise typer.Exit(2) from None
    run_service(settings)


@app.command()
def demo(
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="End by serving the API.")] = True,
) -> None:
    """The main job on embedded defaults: simulate a world, then run every stage that exists on it."""
    settings = Settings()
    simulate(out=settings.sample_dir, preset=PresetName.mental_health, episodes=settings.demo_episodes,
             seed=settings.seed, fmt=FileFormat.parquet, partitions=None)
    validate(settings.sample_dir, engine=None, scheduler=None)
    train(data=settings.sample_dir, show_progress=True, engine=None, scheduler=None)
    request = settings.data_dir / "demo_constraints.json"
    request.write_text(json.dumps(DEMO_REQUEST, indent=1))
    console.print(f"\nrecommendation for {request} (budget = current total spend, each programme within +/-30 %):")
    recommend(constraints=request, data=settings.sample_dir, budget=None, as_json=False, model_uri=None)
    if serve_after:
        from serving.keys import create_demo_keys
        from serving.settings import ServiceSettings

        service = ServiceSettings()
        keys = create_demo_keys(service)
        console.print("\nAPI keys for this demo (shown once; only their hashes are kept in "
                      f"{service.resolved_keys_file}):")
        for role, key in keys.items():
            console.print(f"  {role:>15}: {key}")
        console.print(f"web pages: sign in at http://{service.host}:{service.port}/signin with one of these keys")
        console.print(f"serving on http://{service.host}:{service.port} (OpenAPI docs at /docs); Ctrl-C to stop")
        serve(host=None, port=None)


app.command()(simulate)
app.command(name="pilot")(pilot_command)
app.command(name="review")(review_command)
app.command(name="report")(report_command)
app.add_typer(keys_app, name="keys")
