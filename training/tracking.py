"""MLflow set-up and provenance: where runs go, which code and libraries produced them.

Called at the start of a job (never at import time), so tests can point MLflow at a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
from importlib import metadata
from pathlib import Path

import mlflow

from carealloc.settings import Settings

TRACKED_LIBRARIES = ("carealloc", "lightgbm", "scikit-learn", "pandas", "numpy", "scipy", "mlflow", "optuna", "shap")


def configure(settings: Settings) -> str:
    """Point MLflow at the configured store and make sure the experiment exists; returns the experiment id."""
    if settings.tracking_uri is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    mlflow.set_registry_uri(settings.resolved_tracking_uri)
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
