"""Experiment runs: where they go, what they log, which code and libraries produced them.

`configure` is called at the start of a job (never at import time), so tests can point MLflow at a temporary
folder. Jobs log through `RunLog`, so what a run records is read in one place.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

from core.settings import Settings
from tracking.registry import quiet_artifact_downloads

TRACKED_LIBRARIES = ("carealloc", "lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "mlflow", "optuna", "shap")


def configure(settings: Settings) -> str:
    """Point MLflow at the configured store and make sure the experiment exists; returns the experiment id."""
    if settings.tracking_uri is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    mlflow.set_registry_uri(settings.resolved_tracking_uri)
    quiet_artifact_downloads()
    launched = os.environ.get("MLFLOW_EXPERIMENT_ID")
    if os.environ.get("MLFLOW_RUN_ID") and launched:
        # Started by `mlflow run`: the launcher already opened a run in its experiment; attach to it.
        mlflow.set_experiment(experiment_id=launched)
        return launched
    experiment = mlflow.get_experiment_by_name(settings.experiment_name)
    if experiment is not None:
        mlflow.set_experiment(experiment_id=experiment.experiment_id)
        return str(experiment.experiment_id)
    location = settings.artifact_location if settings.tracking_uri is None else None
    experiment_id = mlflow.create_experiment(settings.experiment_name, artifact_location=location)
    mlflow.set_experiment(experiment_id=experiment_id)
    return str(experiment_id)


def library_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str:
    """The commit of the working tree this code runs from, marked '-dirty' with uncommitted changes."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha


def provenance_tags() -> dict[str, str]:
    return {"git_commit": git_commit(), **{f"version.{k}": v for k, v in library_versions().items()}}


class RunLog:
    """What one active run records: tags, parameters, metrics and artifacts."""

    def __init__(self, run_id: str, experiment_id: str):
        self.run_id = run_id
        self.experiment_id = experiment_id

    def tags(self, tags: Mapping[str, Any]) -> None:
        mlflow.set_tags(dict(tags))

    def params(self, params: Mapping[str, Any]) -> None:
        mlflow.log_params(dict(params))

    def metrics(self, metrics: Mapping[str, float]) -> None:
        mlflow.log_metrics(dict(metrics))

    def text(self, text: str, path: str) -> None:
        mlflow.log_text(text, path)

    def dict(self, payload: Mapping[str, Any], path: str) -> None:
        mlflow.log_dict(dict(payload), path)

    def figure(self, figure: Figure, path: str) -> None:
        mlflow.log_figure(figure, path)

    def artifact(self, path: Path) -> None:
        mlflow.log_artifact(str(path))

    def dataset(self, name: str, source: Path, digest: str, frame: pd.DataFrame | None = None,
                context: str = "training") -> None:
        """Record a table the run read (its lineage in the MLflow UI's Datasets panel): with `frame`, its schema
        and profile too; without, only where it is and its digest (tables too big to hold in memory)."""
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.data.pandas_dataset import from_pandas

        where = str(source.resolve())
        with warnings.catch_warnings():
            # MLflow registers its local artifact source under the schemes '' and 'file', so every local path
            # "can be interpreted in multiple ways" (both are the same class); and the profile's integer hint
            # concerns model signatures, not a dataset record. Neither is anything a user can act on.
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer column")
            dataset = (from_pandas(frame, source=where, name=name, digest=digest) if frame is not None
                       else MetaDataset(resolve_dataset_source(where), name=name, digest=digest))  # type: ignore[abstract]
            mlflow.log_input(dataset, context=context)  # the schema is inferred here, lazily


@contextmanager
def run(name: str, tags: Mapping[str, str] | None = None, description: str | None = None) -> Iterator[RunLog]:
    """An MLflow run in the configured experiment, ended (failed when the block raises) on leaving; `description`
    is the run's note in the MLflow UI."""
    with mlflow.start_run(run_name=name, tags=dict(tags or {}), description=description) as active:
        yield RunLog(active.info.run_id, active.info.experiment_id)


def log_child_run(parent: RunLog, name: str, *, started: float, ended: float, status: str,
                  metrics: Mapping[str, float] | None = None, steps: tuple[str, Mapping[int, float]] | None = None,
                  params: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None) -> str:
    """A finished run nested under `parent`, written in one batch without making it the active run (so callers
    on other threads, e.g. Optuna's parallel trials, do not share mlflow's active-run state). `steps`: one
    metric's values per step (a learning curve). Times are Unix seconds."""
    client = MlflowClient()
    child = client.create_run(parent.experiment_id, start_time=int(started * 1000), run_name=name,
                              tags={"mlflow.parentRunId": parent.run_id, **(tags or {})})
    stamp = int(ended * 1000)
    logged = [Metric(k, float(v), stamp, 0) for k, v in (metrics or {}).items()]
    if steps is not None:
        logged = [Metric(steps[0], float(v), stamp, step) for step, v in sorted(steps[1].items())] + logged
    client.log_batch(child.info.run_id, metrics=logged,
                     params=[Param(k, str(v)) for k, v in (params or {}).items()])
    client.set_terminated(child.info.run_id, status, end_time=stamp)
    return str(child.info.run_id)
