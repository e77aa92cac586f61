"""Hyper-parameter tuning with Optuna: a resumable, seeded, pruned search logged to MLflow as nested runs.

The objective is the headline score of `models.evaluation` (response + dropout log loss, lower is better), the
same calibration-aware number the promotion gate compares, but on a validation split
(`models.evaluation.validation_split`): the periods just before the gate's holdout, fitted on everything earlier.
The gate's holdout periods are never seen by a trial, so the gate's score of a tuned configuration is not
inflated by the search.
The study lives in an Optuna journal file under `settings.tuning_dir` (the journal backend is what Optuna advises
over SQLite when trials run in parallel); re-running with the same study name continues it. The best parameters
go to `settings.best_params_path`, which the train job reads when present.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

from core.settings import Settings
from features.build import episode_features, period_outcomes
from features.tables import Tables, load_tables
from models.classifier import FundingAwareClassifier
from models.evaluation import binary_metrics, validation_split
from models.funding_slope import FundingSlope
from models.suite import DEFAULT_PARAMS, DIRECTIONS, episode_share, funding_slopes, targets, tree_params
from tracking.runs import RunLog, configure, log_child_run, provenance_tags, run

STORAGE_FILE = "optuna_journal.log"
OBJECTIVE_METRIC = "validation_score"
VALID_METRIC = "response_valid_log_loss"
# Optuna trial state -> MLflow run status of the nested run (the Optuna state is also kept as a tag).
_RUN_STATUS = {"COMPLETE": "FINISHED", "PRUNED": "FINISHED", "FAIL": "FAILED"}


class TuningError(RuntimeError):
    """Tuning could not produce a usable answer (no completed trial, or a study that does not match the data)."""


@dataclass(frozen=True)
class SearchSpace:
    """Bounds of the FundingAwareClassifier parameters searched; the defaults are sized for a 2-CPU machine."""

    n_estimators: tuple[int, int] = (100, 600)
    learning_rate: tuple[float, float] = (0.01, 0.2)  # log scale
    num_leaves: tuple[int, int] = (7, 63)
    min_child_samples: tuple[int, int] = (20, 300)  # log scale
    reg_lambda: tuple[float, float] = (0.01, 30.0)  # log scale
    feature_fraction: tuple[float, float] = (0.5, 1.0)

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int("n_estimators", *self.n_estimators),
            "learning_rate": trial.suggest_float("learning_rate", *self.learning_rate, log=True),
            "num_leaves": trial.suggest_int("num_leaves", *self.num_leaves),
            "min_child_samples": trial.suggest_int("min_child_samples", *self.min_child_samples, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", *self.reg_lambda, log=True),
            "feature_fraction": trial.suggest_float("feature_fraction", *self.feature_fraction),
        }

    def names(self) -> tuple[str, ...]:
        return tuple(self.__dataclass_fields__)

    def contains(self, params: dict[str, Any]) -> bool:
        return all(name in params and low <= params[name] <= high
                   for name, (low, high) in ((n, getattr(self, n)) for n in self.names()))


class _ReportValidLoss:
    """LightGBM callback: every `every` iterations report the held-out log loss to the trial and prune if told."""

    def __init__(self, trial: optuna.trial.BaseTrial, every: int):
        self.trial = trial
        self.every = every

    def __call__(self, env: Any) -> None:
        step = env.iteration + 1
        if step % self.every != 0 or not env.evaluation_result_list:
            return
        value = next(v for _, metric, v, *_ in env.evaluation_result_list if metric == "binary_logloss")
        self.trial.report(float(value), step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned at iteration {step} (held-out log loss {value:.5f})")


@dataclass
class HoldoutObjective:
    """Optuna objective: the validation score (`validation_split`) for the trial's parameters, data prepared once.

    Built once per study (split, features and targets are computed here), then called once per trial.
    `holdout_periods` are the gate's, set aside; `validation_periods` before them are scored.
    """

    tables: Tables = field(repr=False)
    seed: int = 0
    holdout_periods: int = 2
    validation_periods: int = 1
    space: SearchSpace = field(default_factory=SearchSpace)
    report_every: int = 25
    lgbm_threads: int = 2

    def __post_init__(self) -> None:
        split = validation_split(self.tables.programs, self.tables.episodes, self.holdout_periods,
                                 self.validation_periods)
        self.test_periods = split.test_periods
        self.train_x = episode_features(split.train_programs, split.train_episodes)
        self.test_x = split.test_features
        self.train_y = dict(zip(("response", "dropout"), targets(split.train_episodes), strict=True))
        self.test_y = dict(zip(("response", "dropout"), targets(split.test_episodes), strict=True))
        self.train_share = episode_share(split.train_episodes["episode_id"])  # fit_suite's calibration rows
        self.train_outcomes = (split.train_programs, period_outcomes(split.train_episodes))

    def _slopes(self, params: dict[str, Any]) -> dict[str, FundingSlope | None]:
        return funding_slopes(*self.train_outcomes, params)

    def __call__(self, trial: optuna.trial.BaseTrial) -> float:
        params = {**DEFAULT_PARAMS, **self.space.suggest(trial)}
        slopes = self._slopes(params)
        metrics: dict[str, float] = {}
        # Same models as fit_suite: response may only rise with funding, dropout may only fall.
        for name, direction in DIRECTIONS.items():
            model = FundingAwareClassifier(funding_direction=direction, random_state=self.seed,
                                           n_jobs=self.lgbm_threads, **tree_params(params))
            if name == "response":  # the intermediate values the pruner sees
                model.fit(self.train_x, self.train_y[name], eval_set=(self.test_x, self.test_y[name]),
                          callbacks=[_ReportValidLoss(trial, self.report_every)], row_share=self.train_share,
                          funding_slope=slopes[name])
            else:
                model.fit(self.train_x, self.train_y[name], row_share=self.train_share,
                          funding_slope=slopes[name])
            p = model.predict_proba(self.test_x)[:, 1]
            metrics |= {f"{name}_{k}": v for k, v in binary_metrics(self.test_y[name], p).items()}
        score = metrics["response_log_loss"] + metrics["dropout_log_loss"]
        for key in ("response_log_loss", "dropout_log_loss", "response_auc", "dropout_auc", "response_ece",
                    "dropout_ece"):
            trial.set_user_attr(key, metrics[key])
        return score


@dataclass(frozen=True)
class TuneResult:
    best_params: dict[str, Any]
    best_score: float
    best_trial_number: int
    n_trials_completed: int  # over the whole study, including earlier invocations
    n_pruned: int  # likewise
    study_name: str
    study_storage: Path
    best_params_path: Path
    parent_run_id: str


class _TrialLogger:
    """Study callback: one MLflow run per finished trial, nested under the tune run (thread-safe: no active run)."""

    def __init__(self, parent: RunLog):
        self.parent = parent

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        start = trial.datetime_start.timestamp() if trial.datetime_start else time.time()
        end = trial.datetime_complete.timestamp() if trial.datetime_complete else time.time()
        metrics = {k: v for k, v in trial.user_attrs.items() if isinstance(v, float)}
        if trial.value is not None:
            metrics[OBJECTIVE_METRIC] = trial.value
        log_child_run(self.parent, f"trial-{trial.number}", started=start, ended=end,
                      status=_RUN_STATUS.get(trial.state.name, "KILLED"), metrics=metrics,
                      steps=(VALID_METRIC, trial.intermediate_values), params=trial.params,
                      tags={"trial_state": trial.state.name, "trial_number": str(trial.number),
                            "study_name": study.study_name, "trial_duration_s": f"{end - start:.2f}"})


def journal_storage(settings: Settings) -> tuple[JournalStorage, Path]:
    path = settings.tuning_dir / STORAGE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path))), path


def _check_setup(study: optuna.Study, setup: dict[str, Any]) -> None:
    """A resumed study must be scored on the same data and split, or its trials are not comparable."""
    stored = study.user_attrs.get("setup")
    if stored is None:
        study.set_user_attr("setup", setup)
    elif stored != setup:
        raise TuningError(f"study {study.study_name!r} was run with {stored}, not {setup}; "
                          "its scores are not comparable: use another study name")


def write_best_params(path: Path, trial: optuna.trial.FrozenTrial, study_name: str) -> None:
    payload = {"params": trial.params, OBJECTIVE_METRIC: trial.value, "trial_number": trial.number,
               "study_name": study_name}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    partial.replace(path)


def tune(data_dir: Path, settings: Settings, trials: int, *, timeout: float | None = None, n_jobs: int = 1,
         study_name: str = "carealloc", show_progress: bool = True, holdout_periods: int = 2,
         space: SearchSpace | None = None, pruner: optuna.pruners.BasePruner | None = None) -> TuneResult:
    """Run `trials` more trials of the study `study_name` (created or resumed) and write the best parameters."""
    if trials < 1:
        raise ValueError(f"trials must be at least 1, got {trials}")
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be at least 1, got {n_jobs}")
    space = space or SearchSpace()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        tables = load_tables(data_dir)
        objective = HoldoutObjective(tables, seed=settings.seed, holdout_periods=holdout_periods, space=space,
                                     lgbm_threads=max(1, 2 // n_jobs))
        storage, storage_path = journal_storage(settings)
        study = optuna.create_study(
            storage=storage, study_name=study_name, direction="minimize", load_if_exists=True,
            pruner=pruner or optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=75))
        _check_setup(study, {"data_sha256": tables.snapshot.sha256, "holdout_periods": holdout_periods,
                             "validation_periods": objective.validation_periods,
                             "seed": settings.seed})
        # Offset the seed by the trials already run: a resumed study must not replay the same random start-up draws.
        done = len(study.trials)
        study.sampler = optuna.samplers.TPESampler(seed=settings.seed + done)
        if done == 0 and space.contains(DEFAULT_PARAMS):  # the current defaults are the first candidate to beat
            study.enqueue_trial({k: DEFAULT_PARAMS[k] for k in space.names()})

        configure(settings)
        with run(f"tune {study_name} +{trials} trials", tags={**provenance_tags(), "study_name": study_name},
                 description=f"Optuna study {study_name}: {trials} more trials (after {done}) of the LightGBM "
                             f"parameters, scored on validation periods {list(objective.test_periods)} (the "
                             f"gate's last {holdout_periods} periods held out of every trial); one nested run per "
                             "trial.") as parent:
            parent.params({"trials": trials, "timeout": timeout, "n_jobs": n_jobs, "seed": settings.seed,
                               "holdout_periods": holdout_periods,
                               "validation_periods": ",".join(objective.test_periods),
                               "study_storage": str(storage_path),
                               "trials_before": done, "data_sha256": tables.snapshot.sha256})
            study.optimize(objective, n_trials=trials, timeout=timeout, n_jobs=n_jobs, gc_after_trial=True,
                           callbacks=[_TrialLogger(parent)],
                           show_progress_bar=show_progress)
            states = [t.state for t in study.get_trials(deepcopy=False)]
            n_complete = states.count(optuna.trial.TrialState.COMPLETE)
            n_pruned = states.count(optuna.trial.TrialState.PRUNED)
            parent.metrics({"n_trials_completed": n_complete, "n_pruned": n_pruned})
            if n_complete == 0:
                raise TuningError(f"study {study_name!r} has no completed trial ({n_pruned} pruned)")
            best = study.best_trial
            if best.value is None or not math.isfinite(best.value):
                raise TuningError(f"best trial {best.number} has no finite score: {best.value}")
            write_best_params(settings.best_params_path, best, study_name)
            parent.params({f"best.{k}": v for k, v in best.params.items()})
            parent.metrics({f"best_{OBJECTIVE_METRIC}": best.value, "best_trial_number": best.number})
            parent.artifact(settings.best_params_path)
        return TuneResult(
            best_params=dict(best.params), best_score=float(best.value), best_trial_number=best.number,
            n_trials_completed=n_complete, n_pruned=n_pruned, study_name=study_name, study_storage=storage_path,
            best_params_path=settings.best_params_path, parent_run_id=parent.run_id)
    finally:
        optuna.logging.set_verbosity(verbosity)


__all__ = ["HoldoutObjective", "SearchSpace", "TuneResult", "TuningError", "journal_storage", "tune",
           "write_best_params"]
