"""The model registry: the bundle as one MLflow pyfunc model, its versions and the alias names that mean something.

Logging the bundle as one pyfunc keeps the feature transform inside the model (serving never rebuilds feature
columns by hand) and lets `mlflow models serve` or any pyfunc consumer score episodes too. A model is served by
alias, resolved to a fixed version so every answer can name the version it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel

from models.bundle import CareAllocBundle

CHAMPION = "champion"
"""The version every consumer serves (the service, `carealloc recommend`, `evaluate`, `score`)."""
CHALLENGER = "challenger"
"""The newest trained version, whether or not the promotion gate let it replace the champion."""
PIP_REQUIREMENTS = ["carealloc"]


class RegistryError(RuntimeError):
    """The registry could not answer (unreachable store, unknown model, version or alias)."""


class CareAllocPyfunc(PythonModel):
    def __init__(self, bundle: CareAllocBundle):
        self.bundle = bundle

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.bundle.risk(model_input.reset_index(drop=True))


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]


def load_bundle(model_uri: str) -> CareAllocBundle:
    """The bundle behind a pyfunc model URI such as models:/carealloc/3 or a local model directory."""
    model = mlflow.pyfunc.load_model(model_uri)
    wrapped = model.unwrap_python_model()
    if not isinstance(wrapped, CareAllocPyfunc):
        raise TypeError(f"{model_uri} is not a carealloc model bundle")
    return wrapped.bundle


def register_bundle(bundle: CareAllocBundle, name: str, example: pd.DataFrame) -> str:
    """Log the bundle to the active run as one pyfunc model with signature and input example, register it under
    `name` and return the new version."""
    signature = infer_signature(example, bundle.risk(example))
    info = mlflow.pyfunc.log_model(name="model", python_model=CareAllocPyfunc(bundle), signature=signature,
                                   input_example=example, registered_model_name=name,
                                   pip_requirements=PIP_REQUIREMENTS)
    return str(info.registered_model_version)


class ModelRegistry:
    """One registered model's versions and aliases in one tracking store."""

    def __init__(self, tracking_uri: str, name: str):
        # model URIs (models:/...) and artifact downloads resolve through mlflow's process-wide store
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.name = name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def version(self, alias: str) -> RegisteredVersion | None:
        """The version `alias` points at; None when the model or the alias does not exist (yet)."""
        try:
            found = self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException:
            return None
        return RegisteredVersion(self.name, str(found.version), found.run_id, tuple(sorted(found.aliases or ())))

    def require(self, alias: str) -> RegisteredVersion:
        found = self.version(alias)
        if found is None:
            raise RegistryError(f"no version of {self.name} carries @{alias}")
        return found

    def aliases_of(self, version: str) -> tuple[str, ...]:
        """The aliases `version` carries now (they move when a later training run is promoted)."""
        return tuple(sorted(self.client.get_model_version(self.name, version).aliases or ()))

    def describe(self, version: str, text: str, model_text: str | None = None) -> None:
        """Set a version's description (and the registered model's, when it has none yet and `model_text` is
        given), shown beside it in the MLflow UI."""
        self.client.update_model_version(self.name, version, description=text)
        if model_text and not self.client.get_registered_model(self.name).description:
            self.client.update_registered_model(self.name, description=model_text)

    def set_alias(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(self.name, alias, version)

    def run_metrics(self, run_id: str | None) -> dict[str, float]:
        """The metrics the run that produced a version logged (empty when the version names no run)."""
        return dict(self.client.get_run(run_id).data.metrics) if run_id else {}

    def run_params(self, run_id: str | None) -> dict[str, str]:
        """The params the run that produced a version logged, as MLflow stores them (text)."""
        return dict(self.client.get_run(run_id).data.params) if run_id else {}

    def download(self, version: str, target: Path) -> None:
        """The version's model directory into `target` (which must not exist yet)."""
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{self.name}/{version}", dst_path=str(target))

    def load(self, alias: str = CHAMPION) -> CareAllocBundle:
        """The bundle behind `name@alias`, named by its fixed version."""
        found = self.require(alias)
        try:
            bundle = load_bundle(f"models:/{self.name}/{found.version}")
        except MlflowException as exc:
            raise RegistryError(str(exc)) from exc
        bundle.model_version = f"{self.name}/{found.version}"
        return bundle


def load_model_uri(tracking_uri: str, model_uri: str) -> CareAllocBundle:
    """The bundle behind any model URI the store resolves (models:/name/3, runs:/id/model, a local path)."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        bundle = load_bundle(model_uri)
    except MlflowException as exc:
        raise RegistryError(str(exc)) from exc
    bundle.model_version = model_uri
    return bundle
