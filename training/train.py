"""The retraining job: validate -> evaluate on a temporal holdout -> fit on all data -> log -> register -> gate.

All MLflow I/O for training happens here; the modelling itself lives in `models/`. Registration is the last
step, after every figure and metric is logged, so a run killed midway leaves no half-registered model and the
champion untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from carealloc.settings import Settings
from features.world.plan import build_plan
from features.world.simulate import simulate_episodes
from features.world.truth import TRUTH_FILE, Truth
from models.bundle import CareAllocBundle, make_bundle
from models.evaluation import truth_curve_error
from models.packaging import CareAllocPyfunc
from models.suite import DEFAULT_PARAMS
from training.engines import open_engine
from training.plots import calibration_figure, outcome_curves_figure, shap_summary_figure
from training.registry import SCORE, GateDecision, apply_gate
from training.tracking import configure, library_versions, provenance_tags

SHAP_SAMPLE = 2000
PIP_REQUIREMENTS = ["carealloc"]


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_version: str
    gate: GateDecision
    metrics: dict[str, float]
    params: dict[str, Any]


def resolve_params(settings: Settings, explicit: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, overridden by the best parameters `tune` found (if any), overridden by explicit ones."""
    params = dict(DEFAULT_PARAMS)
    if settings.best_params_path.is_file():
        params |= json.loads(settings.best_params_path.read_text())["params"]
    return params | (explicit or {})


def synthetic_input_example(bundle: CareAllocBundle, rows: int = 3) -> pd.DataFrame:
    """Episodes in contract form with simulated patients (never a real patient row) for the bundle's programmes."""
    _, episodes = simulate_episodes(build_plan("mental-health", 400, seed=20_240_101))
    example = episodes.head(rows).drop(columns=["final_score", "satisfaction"]).copy()
    example["program_id"] = [sorted(bundle.programs)[i % len(bundle.programs)] for i in range(rows)]
    example["period"] = bundle.next_period
    example["episode_id"] = [f"EXAMPLE-{i}" for i in range(rows)]
    example["patient_id"] = [f"SYNTHETIC-{i}" for i in range(rows)]
    # Whole-number columns go in as floats so the signature accepts missing optional values (e.g. age).
    integers = example.select_dtypes("integer").columns
    return example.drop(columns=["region"]).astype({c: "float64" for c in integers if c != "region"}).reset_index(
        drop=True)


@contextmanager
def _steps(show: bool) -> Iterator[Any]:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), disable=not show,
                  transient=False) as progress:
        task = progress.add_task("training", total=7)

        def step(text: str) -> None:
            progress.update(task, description=text, advance=1)

        yield step


def train(data_dir: Path, settings: Settings, params: dict[str, Any] | None = None,
          show_progress: bool = True) -> TrainResult:
    configure(settings)
    chosen = resolve_params(settings, params)
    with _steps(show_progress) as step, open_engine(data_dir, settings) as engine:
        step("validating data")
        snapshot = engine.snapshot.to_dict()
        periods = engine.snapshot.periods
        with mlflow.start_run(run_name="train") as run:
            mlflow.set_tags({**provenance_tags(), "data.sha256": snapshot["sha256"], "data.dir": str(data_dir),
                             "engine": settings.engine})
            mlflow.log_params({**chosen, "seed": settings.seed, "data_periods": f"{periods[0]}..{periods[-1]}",
                               "data_programs_rows": engine.snapshot.programs_rows,
                               "data_episodes_rows": engine.snapshot.episodes_rows})
            mlflow.log_dict(snapshot, "data_snapshot.json")

            step("evaluating on the temporal holdout")
            holdout = engine.evaluate(chosen, settings.seed)
            metrics: dict[str, float] = dict(holdout["metrics"])
            mlflow.log_text(holdout["slices"].to_csv(index=False), "evaluation/slices.csv")
            mlflow.log_text(holdout["counts"].to_csv(index=False), "evaluation/holdout_counts.csv")
            mlflow.log_figure(calibration_figure(holdout["reliability"]), "plots/calibration.png")

            step("fitting on all periods")
            suite, forecaster = engine.fit(chosen, settings.seed)
            forecaster.interval_log_ratio = holdout["interval_log_ratio"]

            step("computing programme curves")
            bundle = make_bundle(forecaster, suite, engine.programs, None, outcomes=engine.outcomes,
                                 metrics=metrics, snapshot=snapshot, versions=library_versions(),
                                 calibration={name: table.to_dict("records")
                                              for name, table in holdout["reliability"].items()})
            truth = Truth.load(data_dir) if (data_dir / TRUTH_FILE).is_file() else None
            if truth is not None and set(truth.program_ids) != set(bundle.programs):
                truth = None  # a truth.json from another world: nothing to compare against
            if truth is not None:
                metrics |= truth_curve_error(bundle.curve, truth)
            mlflow.log_metrics(metrics)

            step("plotting")
            sample = pd.concat(list(forecaster.cohorts.values()), ignore_index=True)
            sample = sample.sample(min(SHAP_SAMPLE, len(sample)), random_state=settings.seed)
            mlflow.log_figure(shap_summary_figure(suite.response, sample, "Reliable improvement: SHAP summary"),
                              "plots/shap_response.png")
            mlflow.log_figure(shap_summary_figure(suite.dropout, sample, "Dropout: SHAP summary"),
                              "plots/shap_dropout.png")
            mlflow.log_figure(outcome_curves_figure(bundle.curves, bundle.programs, truth), "plots/outcome_curves.png")

            step("logging and registering the model bundle")
            example = synthetic_input_example(bundle)
            signature = infer_signature(example, bundle.risk(example))
            info = mlflow.pyfunc.log_model(
                name="model", python_model=CareAllocPyfunc(bundle), signature=signature, input_example=example,
                registered_model_name=settings.model_name, pip_requirements=PIP_REQUIREMENTS,
            )
            version = str(info.registered_model_version)

            step("applying the promotion gate")
            gate = apply_gate(MlflowClient(), settings.model_name, version, metrics[SCORE], settings.gate_tolerance)
            mlflow.set_tags({"gate.decision": "promoted" if gate.promoted else "kept champion",
                             "gate.reason": gate.reason, "model.version": version})
            if gate.champion_score is not None:
                mlflow.log_metric("champion_holdout_score", gate.champion_score)
    return TrainResult(run.info.run_id, version, gate, metrics, chosen)
