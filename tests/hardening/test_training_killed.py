"""A training run killed (SIGKILL, no clean-up possible) in the middle of registering leaves no half-registered
model and the champion unchanged. The kill happens in a real training subprocess, inside the MLflow registry store,
right after the model version row is committed and before the promotion gate runs: the riskiest moment, since
the artifacts are logged before registration starts and the version row is written in one transaction."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import write_csv_world

REPO = Path(__file__).resolve().parents[2]
TRAINER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    import matplotlib.pyplot as plt
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
    import training.train
    from core.settings import Settings
    from training.train import train

    # Plots are logged before registration and play no part in it; an empty figure saves most of a minute here.
    for name in ("calibration_figure", "shap_summary_figure", "outcome_curves_figure"):
        setattr(training.train, name, lambda *args, **kwargs: plt.figure(figsize=(1, 1)))

    original = SqlAlchemyStore.create_model_version

    def create_model_version(self, *args, **kwargs):
        version = original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return version

    SqlAlchemyStore.create_model_version = create_model_version
    settings = Settings(data_dir=Path(sys.argv[2]), tracking_uri=sys.argv[1])
    train(Path(sys.argv[3]), settings, {"n_estimators": 30, "learning_rate": 0.1, "num_leaves": 7,
                                        "min_child_samples": 40}, show_progress=False)
""")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv_world(tmp_path_factory.mktemp("kill-world"), 3_000, seed=5)


def champion_store(root: Path, bundle: Any) -> tuple[str, Any]:
    import mlflow
    from mlflow import MlflowClient

    from tracking.registry import CareAllocPyfunc

    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.create_experiment("carealloc", artifact_location=(root / "artifacts").as_uri())
    with mlflow.start_run(experiment_id=experiment):
        mlflow.log_metric("holdout_score", 1.0)
        info = mlflow.pyfunc.log_model(name="model", python_model=CareAllocPyfunc(bundle),
                                       registered_model_name="carealloc", pip_requirements=["carealloc"])
    client = MlflowClient(uri, uri)
    client.set_registered_model_alias("carealloc", "champion", str(info.registered_model_version))
    return uri, client


def test_killed_training_leaves_no_half_registered_model(tmp_path: Path, world: Path, trained: Any) -> None:
    from tracking.registry import load_bundle

    uri, client = champion_store(tmp_path, trained[2])
    process = subprocess.run([sys.executable, "-c", TRAINER, uri, str(tmp_path / "data"), str(world)],
                             cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)},
                             capture_output=True, text=True, timeout=600)
    assert process.returncode == -signal.SIGKILL, process.stderr[-3000:]

    versions = sorted(int(v.version) for v in client.search_model_versions("name='carealloc'"))
    assert versions == [1, 2]
    champion = client.get_model_version_by_alias("carealloc", "champion")
    assert str(champion.version) == "1", "the killed run moved the champion"
    for version in versions:  # every registered version is complete: its bundle loads
        bundle = load_bundle(f"models:/carealloc/{version}")
        assert set(bundle.programs)
    assert not client.get_model_version("carealloc", "2").aliases, "the killed run's version got an alias"
