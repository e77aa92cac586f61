"""Tuning: the objective is the holdout score, pruning works, the study resumes, MLflow gets nested runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest

from core.settings import Settings
from features.tables import Tables, load_tables
from models.evaluation import before_holdout, evaluate_holdout
from models.suite import DEFAULT_PARAMS
from tests.conftest import write_csv_world
from training.tune import HoldoutObjective, SearchSpace, TuningError, journal_storage, tune

# Few small trees keep trials fast on two CPUs; at least 25 rounds so the pruning callback reports once.
TINY = SearchSpace(n_estimators=(25, 40), num_leaves=(4, 15), min_child_samples=(20, 80))
PARAMS = {"n_estimators": 30, "learning_rate": 0.05, "num_leaves": 7, "min_child_samples": 40, "reg_lambda": 1.0,
          "feature_fraction": 0.8}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv_world(tmp_path_factory.mktemp("world"), 4_000, seed=3)


@pytest.fixture(scope="module")
def tables(world: Path) -> Tables:
    return load_tables(world)


@pytest.fixture(scope="module")
def objective(tables: Tables) -> HoldoutObjective:
    return HoldoutObjective(tables, seed=0, space=TINY)


def test_objective_is_the_validation_score_and_never_sees_the_gates_holdout(objective: HoldoutObjective,
                                                                          tables: Tables) -> None:
    periods = sorted(tables.programs["period"].unique())
    gate_holdout = evaluate_holdout(tables.programs, tables.episodes, PARAMS, seed=0)["test_periods"]
    assert gate_holdout == tuple(periods[-2:])
    assert objective.test_periods == (periods[-3],)  # the period just before the gate's holdout
    assert len(objective.test_x) > 0
    kept_programs, kept_episodes = before_holdout(tables.programs, tables.episodes, 2)
    assert not set(kept_episodes["period"]) & set(gate_holdout)

    score = objective(optuna.trial.FixedTrial(PARAMS))
    expected = evaluate_holdout(kept_programs, kept_episodes, PARAMS, seed=0, holdout_periods=1)["metrics"]
    assert math.isfinite(score)
    assert score == pytest.approx(expected["holdout_score"], abs=1e-9)
    full = evaluate_holdout(tables.programs, tables.episodes, PARAMS, seed=0)["metrics"]["holdout_score"]
    assert abs(score - full) > 1e-6  # not the gate's number
    assert objective(optuna.trial.FixedTrial(PARAMS)) == score
    other = objective(optuna.trial.FixedTrial({**PARAMS, "learning_rate": 0.2, "num_leaves": 15}))
    assert abs(other - score) > 1e-6


def test_trials_are_pruned_on_the_intermediate_validation_loss(tables: Tables) -> None:
    objective = HoldoutObjective(tables, seed=0, space=TINY, lgbm_threads=1)
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0),
                                sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.PRUNED] * 2
    assert all(list(t.intermediate_values) == [objective.report_every] for t in study.trials)


def test_default_params_are_inside_the_default_space() -> None:
    assert SearchSpace().contains(DEFAULT_PARAMS)
    assert not TINY.contains(DEFAULT_PARAMS)


def _runs_of(parent_id: str, runs: pd.DataFrame) -> int:
    return int((runs["tags.mlflow.parentRunId"] == parent_id).sum())


def test_tune_writes_best_params_logs_nested_runs_and_resumes(
        world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = Settings(data_dir=tmp_path, seed=5)

    first = tune(world, settings, 2, n_jobs=2, show_progress=False, space=TINY)  # trials in threads

    saved = json.loads(settings.best_params_path.read_text())
    assert set(saved["params"]) == set(TINY.names())
    assert TINY.contains(saved["params"])
    assert saved["validation_score"] == pytest.approx(first.best_score)
    assert saved["trial_number"] == first.best_trial_number
    assert first.n_trials_completed + first.n_pruned == 2
    assert (tmp_path / "mlflow.db").is_file()
    assert first.study_storage.parent == settings.tuning_dir

    runs = mlflow.search_runs(experiment_names=[settings.experiment_name])
    parents = runs[runs["tags.mlflow.runName"].str.startswith("tune carealloc +2 trials")]
    assert list(parents["run_id"]) == [first.parent_run_id]
    assert "Optuna study carealloc: 2 more trials (after 0)" in parents["tags.mlflow.note.content"].iloc[0]
    assert parents["metrics.best_validation_score"].iloc[0] == pytest.approx(first.best_score)
    assert "tags.git_commit" in runs.columns
    assert _runs_of(first.parent_run_id, runs) == 2
    children = runs[runs["tags.mlflow.parentRunId"] == first.parent_run_id]
    assert set(children["tags.trial_state"]) <= {"COMPLETE", "PRUNED"}
    assert children["params.learning_rate"].notna().all()

    second = tune(world, settings, 2, show_progress=False, space=TINY)

    study = optuna.load_study(study_name="carealloc", storage=journal_storage(settings)[0])
    assert len(study.trials) == 4
    assert len({tuple(sorted(t.params.items())) for t in study.trials}) == 4  # resuming does not replay draws
    assert second.best_score <= first.best_score
    runs = mlflow.search_runs(experiment_names=[settings.experiment_name])
    assert _runs_of(second.parent_run_id, runs) == 2

    with pytest.raises(TuningError, match="not comparable"):
        tune(world, settings, 1, show_progress=False, space=TINY, holdout_periods=3)
