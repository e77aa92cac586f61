"""The Dask engine against the single-machine one on the same data, and the partitioned layout it reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from features.build import period_outcomes, program_history
from features.contract import ContractError
from features.tables import load_tables, partition_files
from synthetic.plan import build_plan
from synthetic.simulate import simulate_episode_partitions, simulate_episodes
from tests.training.conftest import write_partitioned_world
from training.engines import open_engine

# Bagging draws depend on which worker holds which rows, the one randomness the engines cannot share; without
# it both grow trees on the same rows (calibration rows are picked by episode_id) from the same parameters.
SAME_DRAWS = {"n_estimators": 80, "learning_rate": 0.08, "num_leaves": 15, "min_child_samples": 40,
              "subsample": 1.0, "feature_fraction": 1.0}


def test_partitions_draw_the_same_world_one_part_at_a_time() -> None:
    plan = build_plan("mental-health", 3_000, seed=5)
    _, whole = simulate_episodes(plan)
    parts = list(simulate_episode_partitions(plan, 3))
    assert len(parts) == 3 and all(len(p) > 0 for p in parts)
    joined = pd.concat(parts, ignore_index=True)
    assert joined["episode_id"].is_unique and joined["patient_id"].is_unique
    # Who was offered treatment where is drawn once for the plan: every programme-period has the same episodes.
    count = ["program_id", "period"]
    pd.testing.assert_series_equal(joined.groupby(count).size(), whole.groupby(count).size())
    again = pd.concat(simulate_episode_partitions(plan, 3), ignore_index=True)
    pd.testing.assert_frame_equal(joined, again)


def test_history_from_summed_partition_outcomes_equals_history_from_episodes() -> None:
    plan = build_plan("mental-health", 3_000, seed=6)
    programs, episodes = simulate_episodes(plan)
    parts = np.array_split(np.arange(len(episodes)), 4)
    summed = pd.concat([period_outcomes(episodes.iloc[rows]) for rows in parts]).groupby(
        ["program_id", "period"]).sum().reset_index()
    pd.testing.assert_frame_equal(program_history(programs, outcomes=summed), program_history(programs, episodes))


def test_partitioned_folder_validates_and_names_the_bad_part(tmp_path: Path) -> None:
    from training.distributed import PartitionedEpisodes

    folder = write_partitioned_world(tmp_path / "world", 2_000, seed=7, partitions=3)
    tables = load_tables(folder)
    data = PartitionedEpisodes.open(folder)  # no cluster needed: dask's local threads
    assert data.snapshot == tables.snapshot
    assert data.outcomes["n"].sum() == len(tables.episodes)

    bad = partition_files(folder / "episodes")[1]
    part = pd.read_parquet(bad)
    part.loc[4, "baseline_score"] = 99.0
    part.to_parquet(bad, index=False)
    with pytest.raises(ContractError) as info:
        PartitionedEpisodes.open(folder)
    text = str(info.value)
    assert "part-00001.parquet, column 'baseline_score'" in text and "rows 5" in text

    part.loc[4, "baseline_score"] = 10.0
    part.loc[0, "episode_id"] = "E1"  # the first episode of part 0
    part.to_parquet(bad, index=False)
    with pytest.raises(ContractError, match="appear in more than one row across the parts"):
        PartitionedEpisodes.open(folder)


def test_training_rows_are_dealt_out_so_every_partition_holds_every_programme(tmp_path: Path) -> None:
    from training.distributed import SHARE, PartitionedEpisodes, _category_levels, _dealt, _features

    # Parts as written are blocks of programmes; LightGBM bins each feature from one worker's rows, so a worker
    # holding some programmes only would leave the others' levels and funding values out of the bins.
    folder = write_partitioned_world(tmp_path / "world", 3_000, seed=8, partitions=3)
    data = PartitionedEpisodes.open(folder)  # no cluster needed: dask's local threads
    levels = _category_levels(data.episodes, data.programs, data.outcomes)
    frame = _features(data.episodes, data.programs, data.outcomes, levels)
    written = [set(part["program_id"].astype(str)) for part in frame.partitions]
    assert all(len(programmes) < data.programs["program_id"].nunique() for programmes in written)

    dealt = _dealt(frame)
    parts = [dealt.get_partition(k).compute() for k in range(dealt.npartitions)]
    assert len(parts) == frame.npartitions
    assert all(set(part["program_id"].astype(str)) == set(data.programs["program_id"]) for part in parts)
    assert all(part[SHARE].is_monotonic_increasing for part in parts)  # a fixed row order within each worker
    pd.testing.assert_frame_equal(
        pd.concat(parts).sort_values(SHARE).reset_index(drop=True),
        frame.compute().sort_values(SHARE).reset_index(drop=True))  # same rows, same category levels


@pytest.mark.slow
def test_both_engines_agree_on_holdout_auc_and_calibration(tmp_path: Path, dask_scheduler: str) -> None:
    folder = write_partitioned_world(tmp_path / "world", 120_000, seed=3, partitions=4)
    metrics = {}
    for engine in ("local", "dask"):
        settings = Settings(engine=engine, dask_scheduler=dask_scheduler, data_dir=tmp_path / "data")
        with open_engine(folder, settings) as opened:
            metrics[engine] = opened.evaluate(SAME_DRAWS, seed=0)["metrics"]
    # Issue 8: AUC and calibration (10-bin ECE) within 0.005. The engines still differ where LightGBM's
    # distributed learning does: each worker bins its features from its own half of the rows, leaf counts are
    # estimated from hessians, and monotone constraints use the "basic" method. Those moved the local engine's own
    # holdout ECE by up to 0.005 at 60k episodes (binning from a random half of its rows instead of all of them),
    # as much as the tolerance, and by up to 0.002 at 120k; hence 120k episodes. Measured gaps at 120k: AUC <= 0.0005,
    # ECE <= 0.0012.
    for key in ("response_auc", "dropout_auc", "response_ece", "dropout_ece"):
        assert abs(metrics["local"][key] - metrics["dask"][key]) <= 0.005, (key, metrics["local"][key],
                                                                            metrics["dask"][key])
    assert metrics["dask"]["response_auc"] > metrics["dask"]["response_prior_auc"] + 0.1  # it learnt something


def test_both_engines_boost_from_the_same_funding_slope(tmp_path: Path, dask_scheduler: str) -> None:
    """The slope comes from per programme-period sums, which both engines hold, so it is the same slope; the
    trees grown from it on the cluster then forecast close to the single machine's."""
    folder = write_partitioned_world(tmp_path / "world", 20_000, seed=5, partitions=2)
    suites, probe = {}, None
    for engine in ("local", "dask"):
        settings = Settings(engine=engine, dask_scheduler=dask_scheduler, data_dir=tmp_path / "data")
        with open_engine(folder, settings) as opened:
            suites[engine], forecaster = opened.fit({**SAME_DRAWS, "funding_slope": True}, seed=0)
            probe = probe if probe is not None else pd.concat(list(forecaster.cohorts.values())).head(2000)
    for name in ("response", "dropout"):
        local, dask = getattr(suites["local"], name), getattr(suites["dask"], name)
        assert local.funding_slope is not None and local.funding_slope == dask.funding_slope
        gap = np.abs(local.predict_proba(probe)[:, 1] - dask.predict_proba(probe)[:, 1])
        assert np.median(gap) < 0.02, (name, float(np.median(gap)))
