"""All configuration in one typed place: environment variables prefixed CAREALLOC_ (and MLFLOW_TRACKING_URI).

Nothing here touches the disk at import time; `Settings()` only reads the environment.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAREALLOC_", frozen=True, extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the demo writes data, the MLflow store and caches.")
    seed: int = Field(0, ge=0, description="Seed for simulation and training randomness.")
    demo_episodes: int = Field(50_000, ge=1_000, le=5_000_000, description="Size of the demo's synthetic world.")

    @property
    def sample_dir(self) -> Path:
        return self.data_dir / "synthetic"
