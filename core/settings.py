"""All configuration in one typed place: environment variables prefixed CAREALLOC_ (and MLFLOW_TRACKING_URI).

Nothing here touches the disk at import time; `Settings()` only reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    # populate_by_name: an explicit Settings(tracking_uri=...) wins over MLFLOW_TRACKING_URI, which mlflow itself
    # sets in-process whenever set_tracking_uri is called.
    model_config = SettingsConfigDict(env_prefix="CAREALLOC_", frozen=True, extra="ignore", populate_by_name=True)

    data_dir: Path = Field(Path("data"), description="Where the demo writes data, the MLflow store and caches.")
    seed: int = Field(0, ge=0, description="Seed for simulation and training randomness.")
    demo_episodes: int = Field(50_000, ge=1_000, le=5_000_000, description="Size of the demo's synthetic world.")
    tracking_uri: str | None = Field(
        None, validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow tracking store; default: a SQLite file and artifact folder inside data_dir.")
    experiment_name: str = Field("carealloc", min_length=1)
    model_name: str = Field("carealloc", min_length=1, description="Registered model name in the MLflow registry.")
    gate_tolerance: float = Field(
        1e-3, ge=0, le=0.1,
        description="A challenger is 'not worse' when its holdout score is within this relative margin.")

    engine: Literal["local", "dask"] = Field(
        "local", description="Where training and batch scoring run: in this process, or on a Dask cluster.")
    dask_scheduler: str | None = Field(
        None, description="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.")
    dask_workers: int = Field(2, ge=1, le=64, description="Worker processes of the local cluster (one thread each).")
    dask_sample_rows: int = Field(
        200_000, ge=1_000, description="Bound on the rows the Dask engine brings to the client for fits that need "
        "one machine: isotonic calibration and the logistic baseline (each a hashed sample of episodes).")
    outcomes_url: str | None = Field(
        None, description="SQLAlchemy URL of the KPI history and issued plans (any database SQLAlchemy reaches); "
        "default: a SQLite file inside data_dir.")

    @property
    def sample_dir(self) -> Path:
        return self.data_dir / "synthetic"

    @property
    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}"

    @property
    def resolved_outcomes_url(self) -> str:
        return self.outcomes_url or f"sqlite:///{(self.data_dir / 'outcomes.db').resolve()}"

    @property
    def artifact_location(self) -> str:
        return (self.data_dir / "mlartifacts").resolve().as_uri()

    @property
    def tuning_dir(self) -> Path:
        return self.data_dir / "tuning"

    @property
    def best_params_path(self) -> Path:
        """Where `tune` writes the best parameters and `train` picks them up."""
        return self.tuning_dir / "best_params.json"
