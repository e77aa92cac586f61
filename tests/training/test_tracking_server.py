"""Training and serving against a real MLflow tracking server backed by PostgreSQL, unchanged.

The set-up starts Debian's PostgreSQL in a temporary folder, listening on 127.0.0.1 only, and `mlflow server`
on top of it with a local artifact root; both are torn down afterwards. Skipped only where PostgreSQL's
binaries are not installed (`make system` installs them, so CI runs it).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from carealloc.settings import Settings

BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not BINARIES, reason="PostgreSQL binaries not installed (/usr/lib/postgresql/*/bin); "
                                            "`make system` installs them"),
]
TINY = {"n_estimators": 30, "learning_rate": 0.15, "num_leaves": 7, "min_child_samples": 40}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run its tools as the `postgres` user when we are root."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def wait_until(ready: object, what: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise TimeoutError(f"{what} did not start within {seconds:.0f} s")


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    bin_dir = Path(BINARIES[-1])
    root = Path(tempfile.mkdtemp(prefix="carealloc-pg-"))  # under /tmp, reachable by the postgres user
    root.chmod(0o755)
    data = root / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(data, "postgres")
    port = free_port()
    subprocess.run(as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                "--no-sync"]), check=True, capture_output=True)
    subprocess.run(as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w",
                                "-o", f"-h 127.0.0.1 -p {port} -k {root}", "start"]), check=True,
                   capture_output=True)
    try:
        subprocess.run(as_postgres([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                    "mlflow"]), check=True, capture_output=True)
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/mlflow"  # SQLAlchemy 2.1 defaults to psycopg 3
    finally:
        subprocess.run(as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


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


def test_train_registers_on_postgres_and_the_service_loads_the_champion(
        tracking_server: str, world_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    from serving.registry import load_champion
    from serving.settings import ServiceSettings
    from training.train import train

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_server)
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.resolved_tracking_uri == tracking_server
    result = train(world_dir, settings, TINY, show_progress=False)
    assert result.gate.promoted

    client = MlflowClient(tracking_server, tracking_server)
    champion = client.get_model_version_by_alias(settings.model_name, "champion")
    assert str(champion.version) == result.model_version
    run = client.get_run(result.run_id)
    assert run.data.metrics["holdout_score"] == pytest.approx(result.metrics["holdout_score"])
    assert not (tmp_path / "data" / "mlflow.db").exists()  # nothing fell back to the local SQLite store

    loaded = load_champion(ServiceSettings(data_dir=tmp_path / "service"), allow_cache=False)
    assert loaded.source == "registry" and loaded.version == result.model_version
    program = sorted(loaded.bundle.programs)[0]
    curve = loaded.bundle.curve(program, [loaded.bundle.programs[program].current_funding])
    assert curve["reliable_improvements"].iloc[0] > 0
