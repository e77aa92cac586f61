"""A partitioned synthetic world and one 2-worker local Dask cluster, shared by the Dask engine tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


def write_partitioned_world(folder: Path, episodes: int, seed: int, partitions: int) -> Path:
    from features.tables import write_partitioned
    from synthetic.plan import build_plan
    from synthetic.simulate import programs_table, simulate_episode_partitions
    from synthetic.truth import Truth

    plan = build_plan("mental-health", episodes, seed=seed)
    write_partitioned(folder, programs_table(plan), simulate_episode_partitions(plan, partitions))
    Truth(plan).save(folder)
    return folder


@pytest.fixture(scope="session")
def dask_scheduler() -> Iterator[str]:
    """Address of a local cluster as `--engine dask` starts it (2 processes x 1 thread, loopback only)."""
    from distributed import LocalCluster

    from training.distributed import LOOPBACK_HTTP

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1", scheduler_kwargs=LOOPBACK_HTTP) as cluster:
        yield cluster.scheduler_address
