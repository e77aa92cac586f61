"""The bundle as an MLflow pyfunc model: `predict` takes episodes in contract form and returns risks.

Logging the bundle as one pyfunc keeps the feature transform inside the model (serving never rebuilds feature
columns by hand) and lets `mlflow models serve` or any pyfunc consumer score episodes too.
"""

from __future__ import annotations

from typing import Any

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow import MlflowClient
from mlflow.pyfunc import PythonModel

from models.bundle import CareAllocBundle


class CareAllocPyfunc(PythonModel):
    def __init__(self, bundle: CareAllocBundle):
        self.bundle = bundle

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.bundle.risk(model_input.reset_index(drop=True))


def load_bundle(model_uri: str) -> CareAllocBundle:
    """The bundle behind a pyfunc model URI such as models:/carealloc@champion or a local path."""
    model = mlflow.pyfunc.load_model(model_uri)
    wrapped = model.unwrap_python_model()
    if not isinstance(wrapped, CareAllocPyfunc):
        raise TypeError(f"{model_uri} is not a carealloc model bundle")
    return wrapped.bundle


def load_registered(tracking_uri: str, name: str, alias: str = "champion") -> CareAllocBundle:
    """The bundle behind `name@alias`, resolved to a fixed version so every answer can name it."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    version = MlflowClient().get_model_version_by_alias(name, alias).version
    bundle = load_bundle(f"models:/{name}/{version}")
    bundle.model_version = f"{name}/{version}"
    return bundle
