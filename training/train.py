"""The retraining job: validate -> evaluate on a temporal holdout -> fit on all data -> log -> register -> gate.

The gate scores the champion's configuration on this run's holdout too (`training.gate`), so both scores in
its decision come from the same, newest periods.

The modelling lives in `models/`, MLflow I/O in `tracking/`; this module orders the steps. Registration is the
last step, after every figure and metric is logged, so a run killed midway leaves no half-registered model and the
champion untouched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from core.settings import Settings
from features.instruments import INSTRUMENTS
from models.bundle import CareAllocBundle, make_bundle
from models.suite import DEFAULT_PARAMS, chosen_params
from tracking.registry import ModelRegistry, register_bundle
from tracking.runs import configure, library_versions, provenance_tags, run
from training.engines import open_engine
from training.gate import SCORE, GateDecision, apply_gate
from training.plots import calibration_figure, outcome_curves_figure, shap_summary_figure
from training.truth import TruthReference

SHAP_SAMPLE = 2000
MODEL_DESCRIPTION = ("carealloc bundle: LightGBM response and dropout models, the reach model (complementary "
                     "log-log in log funding per referral, fitted within programme) and each programme's outcome "
                     "curves over funding with conformal 90 % intervals, served by alias (@champion).")


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_version: str
    gate: GateDecision
    metrics: dict[str, float]
    params: dict[str, Any]


def resolve_params(settings: Settings, explicit: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, overridden by the best parameters `tune` found (if any), overridden by explicit ones."""
    params = dict(DEFAULT_PARAMS)
    if settings.best_params_path.is_file():
        params |= json.loads(settings.best_params_path.read_text())["params"]
    return params | (explicit or {})


def input_example(bundle: CareAllocBundle, rows: int = 3) -> pd.DataFrame:
    """Episodes in contract form made up from what the bundle knows (its programmes, the category levels its
    models were fitted on, the instruments' score ranges), never a patient row: the registry's input example
    must not be health information."""
    levels = bundle.suite.response.categories_
    programs = sorted(bundle.programs)

    def level(column: str, i: int) -> Any:
        known = [v for v in levels.get(column, []) if pd.notna(v)]
        return known[i % len(known)] if known else None

    records = []
    for i in range(rows):
        instrument = level("instrument", i) or "PHQ-9"
        scale = INSTRUMENTS.get(str(instrument))
        middle = (scale.min_score + scale.max_score) / 2 if scale is not None else 10.0
        records.append({
            "episode_id": f"EXAMPLE-{i}", "patient_id": f"SYNTHETIC-{i}", "program_id": programs[i % len(programs)],
            "period": bundle.next_period, "instrument": instrument, "baseline_score": float(middle),
            "dropped_out": False, "sessions_attended": float(i + 1), "age": float(30 + 10 * i),
            "sex": level("sex", i), "payer": level("payer", i), "diagnosis": level("diagnosis", i)})
    # whole-number columns go in as floats so the signature accepts missing optional values (e.g. age)
    return pd.DataFrame.from_records(records)


@contextmanager
def _steps(show: bool) -> Iterator[Any]:
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), disable=not show,
                  transient=False) as progress:
        task = progress.add_task("training", total=7)

        def step(text: str) -> None:
            progress.update(task, description=text, advance=1)

        yield step


def train(data_dir: Path, settings: Settings, params: dict[str, Any] | None = None,
          show_progress: bool = True, truth: TruthReference | None = None) -> TrainResult:
    """`truth`: the world's known response to funding when the data is synthetic (the CLI passes it when the
    data folder holds one); its curve error is logged and plotted beside the forecasts."""
    configure(settings)
    chosen = resolve_params(settings, params)
    with _steps(show_progress) as step, open_engine(data_dir, settings) as engine:
        step("validating data")
        snapshot = engine.snapshot.to_dict()
        periods = engine.snapshot.periods
        span = f"{periods[0]}..{periods[-1]}"
        with run(f"train {span} data {engine.snapshot.sha256[:8]}", description=(
                f"Fits the response, dropout and reach models on {engine.snapshot.episodes_rows:,} episodes and "
                f"{engine.snapshot.programs_rows:,} programme-periods ({span}) from {data_dir}, scores them on a "
                "temporal holdout beside the prior-rate and logistic baselines, registers the bundle and applies "
                "the promotion gate.")) as log:
            log.dataset("programs", data_dir, engine.snapshot.sha256[:16], engine.programs)
            log.dataset("episodes", data_dir, engine.snapshot.sha256[:16])  # may be partitioned: too big to profile
            log.tags({**provenance_tags(), "data.sha256": snapshot["sha256"], "data.dir": str(data_dir),
                             "engine": settings.engine})
            log.params({**chosen, "seed": settings.seed, "data_periods": f"{periods[0]}..{periods[-1]}",
                               "data_programs_rows": engine.snapshot.programs_rows,
                               "data_episodes_rows": engine.snapshot.episodes_rows})
            log.dict(snapshot, "data_snapshot.json")

            step("evaluating on the temporal holdout")
            holdout = engine.evaluate(chosen, settings.seed)
            metrics: dict[str, float] = dict(holdout["metrics"]) | holdout["interval_metrics"]
            log.text(holdout["slices"].to_csv(index=False), "evaluation/slices.csv")
            log.text(holdout["counts"].to_csv(index=False), "evaluation/holdout_counts.csv")
            log.text(holdout["interval_cells"].to_csv(index=False), "evaluation/interval_cells.csv")
            log.figure(calibration_figure(holdout["reliability"]), "plots/calibration.png")

            step("fitting on all periods")
            suite, forecaster = engine.fit(chosen, settings.seed)
            forecaster.intervals = holdout["intervals"]

            step("computing programme curves")
            bundle = make_bundle(forecaster, suite, engine.programs, None, outcomes=engine.outcomes,
                                 metrics=metrics, snapshot=snapshot, versions=library_versions(),
                                 calibration={name: table.to_dict("records")
                                              for name, table in holdout["reliability"].items()})
            if truth is not None and not truth.describes(bundle):
                truth = None  # the truth of another world: nothing to compare against
            if truth is not None:
                metrics |= truth.curve_metrics(bundle)
            log.metrics(metrics)

            step("plotting")
            sample = pd.concat(list(forecaster.cohorts.values()), ignore_index=True)
            sample = sample.sample(min(SHAP_SAMPLE, len(sample)), random_state=settings.seed)
            log.figure(shap_summary_figure(suite.response, sample, "Reliable improvement: SHAP summary"),
                              "plots/shap_response.png")
            log.figure(shap_summary_figure(suite.dropout, sample, "Dropout: SHAP summary"),
                              "plots/shap_dropout.png")
            log.figure(outcome_curves_figure(bundle.curves, bundle.programs, truth), "plots/outcome_curves.png")

            step("logging and registering the model bundle")
            version = register_bundle(bundle, settings.model_name, input_example(bundle))

            step("applying the promotion gate")
            registry = ModelRegistry(settings.resolved_tracking_uri, settings.model_name)

            def rescore(champion_params: dict[str, Any]) -> float:
                """The champion's configuration fitted and scored on this run's holdout (the same split)."""
                if chosen_params(champion_params) == chosen_params(chosen):
                    return metrics[SCORE]  # same configuration, same split and seed: the same fit
                return float(engine.evaluate(champion_params, settings.seed)["metrics"][SCORE])

            gate = apply_gate(registry, version, metrics[SCORE], settings.gate_tolerance, rescore,
                              set(DEFAULT_PARAMS))
            log.tags({"gate.decision": "promoted" if gate.promoted else "kept champion",
                             "gate.reason": gate.reason, "model.version": version})
            registry.describe(version, (
                f"Trained on {span} ({engine.snapshot.episodes_rows:,} episodes, data sha256 "
                f"{engine.snapshot.sha256[:12]}) by run {log.run_id}; holdout score {metrics[SCORE]:.4f}; "
                f"{'promoted to @champion' if gate.promoted else 'kept as @challenger'}: {gate.reason}."),
                model_text=MODEL_DESCRIPTION)
            gate_metrics = {"gate_challenger_holdout_score": metrics[SCORE]}
            if gate.champion_score is not None:
                gate_metrics["gate_champion_holdout_score"] = gate.champion_score
            if gate.champion_metrics and SCORE in gate.champion_metrics:
                gate_metrics["champion_stored_holdout_score"] = gate.champion_metrics[SCORE]
            log.metrics(gate_metrics)
    return TrainResult(log.run_id, version, gate, metrics, chosen)
