"""Training and serving against a real MLflow tracking server backed by PostgreSQL, unchanged.

The set-up starts PostgreSQL (`tests/postgres.py`) and `mlflow server` on top of it with a local artifact root;
both are torn down afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from core.settings import Settings
from tests.postgres import free_port, needs_postgres
from tests.training.conftest import write_partitioned_world

pytestmark = [pytest.mark.slow, needs_postgres]
TINY = {"n_estimators": 30, "learning_rate": 0.15, "num_leaves": 7, "min_child_samples": 40}


def wait_until(ready: object, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise TimeoutError(f"{what} did not start within {seconds:.0f} s")


@pytest.fixture(scope="module")
def tracking_server(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    artifacts = tmp_path_factory.mktemp("artifacts")
    port = free_port()
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    log = (tmp_path_factory.mktemp("server") / "mlflow.log").open("w")
    server = subprocess.Popen([str(mlflow_cli), "server", "--backend-store-uri", postgres_url,
                               "--artifacts-destination", str(artifacts), "--host", "127.0.0.1",
                               "--port", str(port), "--workers", "1"], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if server.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {server.returncode}; see {log.name}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    try:
        wait_until(healthy, "mlflow server", 120)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_dask_training_registers_on_postgres_and_the_service_loads_and_scores_it(
        tracking_server: str, dask_scheduler: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`carealloc train --engine dask` logs and registers as single-machine training does (here on the
    PostgreSQL-backed server), the service loads the champion unchanged, and `score --engine dask` agrees
    with the bundle's own risk scoring."""
    import pandas as pd
    from mlflow import MlflowClient
    from typer.testing import CliRunner

    from carealloc.cli import app
    from features.tables import load_tables
    from serving.registry import load_champion
    from serving.settings import ServiceSettings

    world = write_partitioned_world(tmp_path / "world", 6_000, seed=11, partitions=3)
    data_dir = tmp_path / "data"
    (data_dir / "tuning").mkdir(parents=True)
    (data_dir / "tuning" / "best_params.json").write_text(json.dumps({"params": TINY}))  # as `tune` leaves it
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    monkeypatch.setenv("CAREALLOC_DATA_DIR", str(data_dir))
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--data", str(world), "--no-progress", "--engine", "dask",
                                  "--scheduler", dask_scheduler])
    assert trained.exit_code == 0, trained.output
    assert "promoted to @champion" in trained.output

    settings = Settings()
    client = MlflowClient(tracking_server, tracking_server)
    champion = client.get_model_version_by_alias(settings.model_name, "champion")
    run = client.get_run(champion.run_id)
    assert run.data.tags["engine"] == "dask"
    assert int(run.data.params["n_estimators"]) == TINY["n_estimators"]
    for key in ("response_auc", "response_ece", "dropout_brier", "response_prior_log_loss", "response_logistic_auc",
                "holdout_score", "reach_episodes_mape", "truth_curve_relative_mae"):
        assert key in run.data.metrics, key
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/calibration.png", "plots/shap_response.png", "plots/outcome_curves.png"} <= artifacts
    assert not (data_dir / "mlflow.db").exists()  # nothing fell back to the local SQLite store

    loaded = load_champion(ServiceSettings(data_dir=tmp_path / "service"), allow_cache=False)
    assert loaded.source == "registry" and loaded.version == str(champion.version)
    program = sorted(loaded.bundle.programs)[0]
    curve = loaded.bundle.curve(program, [loaded.bundle.programs[program].current_funding])
    assert curve["reliable_improvements"].iloc[0] > 0

    scored = runner.invoke(app, ["score", "--data", str(world), "--out", str(tmp_path / "risk"), "--engine",
                                 "dask", "--scheduler", dask_scheduler])
    assert scored.exit_code == 0, scored.output
    risk = pd.read_parquet(tmp_path / "risk").set_index("episode_id")
    episodes = load_tables(world).episodes
    assert len(risk) == len(episodes) and "patient_id" not in risk.columns
    sample = episodes.sample(200, random_state=0).reset_index(drop=True)
    expected = loaded.bundle.risk(sample)
    np.testing.assert_allclose(risk.loc[sample["episode_id"], "dropout_risk"], expected["dropout_risk"])
    np.testing.assert_allclose(risk.loc[sample["episode_id"], "non_response_risk"], expected["non_response_risk"])

    again = runner.invoke(app, ["score", "--data", str(world), "--out", str(tmp_path / "risk"), "--engine", "dask",
                                "--scheduler", dask_scheduler])
    assert again.exit_code == 1 and "never overwrites" in again.output and "Traceback" not in again.output
