"""Where a training job's data live and its models are fitted: this process, or a Dask cluster.

`train` asks an engine for the same five things either way (the data snapshot, the programs table, the
per-programme-period outcome sums, a holdout evaluation and the fitted models with their forecaster) and does
all MLflow logging itself, so both engines log, register and gate exactly alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from core.settings import Settings
from features.build import period_outcomes
from features.tables import DataSnapshot, Tables, load_tables
from models.evaluation import evaluate_holdout
from models.forecast import Forecaster, build_forecaster
from models.suite import ModelSuite, fit_suite


class TrainingEngine(Protocol):
    @property
    def snapshot(self) -> DataSnapshot: ...

    @property
    def programs(self) -> pd.DataFrame: ...

    @property
    def outcomes(self) -> pd.DataFrame: ...

    def evaluate(self, params: dict[str, Any] | None, seed: int) -> dict[str, Any]: ...

    def fit(self, params: dict[str, Any] | None, seed: int) -> tuple[ModelSuite, Forecaster]: ...


@dataclass
class InMemory:
    """Every table in this process's memory: the single-machine path."""

    tables: Tables
    _outcomes: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def snapshot(self) -> DataSnapshot:
        return self.tables.snapshot

    @property
    def programs(self) -> pd.DataFrame:
        return self.tables.programs

    @property
    def outcomes(self) -> pd.DataFrame:
        if self._outcomes is None:
            self._outcomes = period_outcomes(self.tables.episodes)
        return self._outcomes

    def evaluate(self, params: dict[str, Any] | None, seed: int) -> dict[str, Any]:
        return evaluate_holdout(self.tables.programs, self.tables.episodes, params, seed)

    def fit(self, params: dict[str, Any] | None, seed: int) -> tuple[ModelSuite, Forecaster]:
        programs, episodes = self.tables.programs, self.tables.episodes
        suite = fit_suite(programs, episodes, params, seed)
        forecaster = build_forecaster(programs, episodes, suite.response, suite.dropout, suite.reach, seed=seed,
                                      outcomes=self.outcomes)
        return suite, forecaster


@contextmanager
def open_engine(data_dir: Path, settings: Settings) -> Iterator[TrainingEngine]:
    """The configured engine over a validated data folder (ContractError naming every problem otherwise)."""
    if settings.engine == "local":
        yield InMemory(load_tables(data_dir))
        return
    from training.distributed import DaskEngine, PartitionedEpisodes, dask_client

    with dask_client(settings) as client:
        yield DaskEngine(client, PartitionedEpisodes.open(data_dir), settings.dask_sample_rows)
