"""The model registry: the bundle as one MLflow pyfunc model, its versions and the alias names that mean something.

Logging the bundle as one pyfunc keeps the feature transform inside the model (serving never rebuilds feature
columns by hand) and lets `mlflow models serve` or any pyfunc consumer score episodes too. A model is served by
alias, resolved to a fixed version so every answer can name the version it came from.

A pyfunc bundle is a cloudpickle: loading it runs whatever code the pickle names, so the service loads it only
after its files match the SHA-256 digest registration recorded (`bundle_digest`, kept as the version's `DIGEST_TAG`
tag). The threat model, honestly: the digest lives in the registry's metadata beside the alias, so it protects
against a tampered or damaged artifact store (a bucket or share more people can write than the tracking database)
and a damaged or swapped cached copy, not against someone who can write registry metadata: they can register a
version of their own with its digest, or re-tag one. MLflow 3.17 offers nothing stronger that we found: no signing
of model versions; `MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false` refuses every pickled pyfunc (this one included)
while still importing an MLmodel's `loader_module` from its `code/` folder; "models from code" swaps the pickle
for a Python file run on load, the same trust in the artifact. Closing the gap needs a key the registry does not
hold (an HMAC or signature the service checks), which is not built here.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
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
DIGEST_TAG = "carealloc.bundle_sha256"
"""The model-version tag holding `bundle_digest` of the version's model directory, written at registration."""
_WRITTEN_BY_DOWNLOAD = frozenset({"registered_model_meta"})  # MLflow adds it on download of models:/name/version


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
    digest: str | None = None
    """What `DIGEST_TAG` says; None when the version has none (registered before digests, or not by carealloc)."""


def bundle_digest(model_dir: Path) -> str:
    """SHA-256 over every file of a model directory (relative path and content, in path order), so a changed,
    added or removed file -- the pickle, MLmodel, a `code/` folder -- changes it. The file MLflow itself writes
    when downloading a registered version is left out: it is not in the artifact store and the loader never reads
    it."""
    whole = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        name = path.relative_to(model_dir).as_posix()
        if name in _WRITTEN_BY_DOWNLOAD:
            continue
        content = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                content.update(block)
        whole.update(f"{name}\0{content.hexdigest()}\n".encode())
    return whole.hexdigest()


def load_bundle(model_uri: str) -> CareAllocBundle:
    """The bundle behind a pyfunc model URI such as models:/carealloc/3 or a local model directory. Unpickles it:
    only for a URI trusted as a whole (the service checks `bundle_digest` first, serving/registry.py)."""
    model = mlflow.pyfunc.load_model(model_uri)
    wrapped = model.unwrap_python_model()
    if not isinstance(wrapped, CareAllocPyfunc):
        raise TypeError(f"{model_uri} is not a carealloc model bundle")
    return wrapped.bundle


class _KnownPickleNotice(logging.Filter):
    """Drops MLflow's notice that a Python-object model is cloudpickled: that trade-off is this module's design
    (see the module docstring: the service checks the digest first); its other warnings still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passing a Python object as `python_model`")


def quiet_artifact_downloads() -> None:
    """MLflow draws a progress bar per artifact download on stderr, a dozen lines of noise in a job's output or the
    service's log; a user who wants it sets MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=true."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def register_bundle(bundle: CareAllocBundle, name: str, example: pd.DataFrame) -> str:
    """Log the bundle to the active run as one pyfunc model with signature and input example, register it under
    `name`, record its digest and return the new version."""
    signature = infer_signature(example, bundle.risk(example))
    notice = _KnownPickleNotice()
    logger = logging.getLogger("mlflow.pyfunc")
    logger.addFilter(notice)
    try:
        info = mlflow.pyfunc.log_model(name="model", python_model=CareAllocPyfunc(bundle), signature=signature,
                                       input_example=example, registered_model_name=name,
                                       pip_requirements=PIP_REQUIREMENTS)
    finally:
        logger.removeFilter(notice)
    version = str(info.registered_model_version)
    record_digest(MlflowClient(), name, version)
    return version


def record_digest(client: MlflowClient, name: str, version: str) -> str:
    """Download `name` `version` as the service will, tag the version with its `bundle_digest` and return it."""
    with tempfile.TemporaryDirectory(prefix="carealloc-digest-") as folder:
        mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=folder)
        digest = bundle_digest(Path(folder))
    client.set_model_version_tag(name, version, DIGEST_TAG, digest)
    return digest


class ModelRegistry:
    """One registered model's versions and aliases in one tracking store."""

    def __init__(self, tracking_uri: str, name: str):
        # model URIs (models:/...) and artifact downloads resolve through mlflow's process-wide store
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        quiet_artifact_downloads()
        self.name = name
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def version(self, alias: str) -> RegisteredVersion | None:
        """The version `alias` points at; None when the model or the alias does not exist (yet)."""
        try:
            found = self.client.get_model_version_by_alias(self.name, alias)
        except MlflowException:
            return None
        return RegisteredVersion(self.name, str(found.version), found.run_id, tuple(sorted(found.aliases or ())),
                                 (found.tags or {}).get(DIGEST_TAG))

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

    def record_digest(self, version: str) -> str:
        """Tag `version` with the digest of its files as the artifact store holds them now (for versions registered
        before digests: only after checking they are what was trained)."""
        return record_digest(self.client, self.name, version)

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
