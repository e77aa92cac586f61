"""The `evaluate` job: score a registered model bundle and log the figures to MLflow.

On synthetic data (a truth handed in by the CLI) the truth gives the figures that matter: forecast curve error
and the share of achievable uplift the recommendation captures. On any data, episodes from periods after the
model's training data are scored out of sample (AUC, Brier, log loss, calibration).
"""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings
from features.tables import load_tables
from models.bundle import CareAllocBundle
from models.evaluation import binary_metrics
from models.suite import targets
from tracking.runs import configure, provenance_tags, run
from training.truth import TruthReference


def evaluate_model(bundle: CareAllocBundle, data_dir: Path, settings: Settings,
                   truth: TruthReference | None = None) -> dict[str, float]:
    tables = load_tables(data_dir)
    metrics: dict[str, float] = {}
    trained_on = set(bundle.snapshot.get("periods", []))
    new = ~tables.episodes["period"].isin(trained_on)
    if new.any():
        episodes = tables.episodes[new].reset_index(drop=True)
        risk = bundle.risk(episodes)
        ri, dropped = targets(episodes)
        metrics |= {f"new_periods_response_{k}": v for k, v in
                    binary_metrics(ri, 1.0 - risk["non_response_risk"].to_numpy()).items()}
        metrics |= {f"new_periods_dropout_{k}": v for k, v in
                    binary_metrics(dropped, risk["dropout_risk"].to_numpy()).items()}
        metrics["new_periods_episodes"] = float(new.sum())
    if truth is not None and truth.describes(bundle):
        metrics |= truth.curve_metrics(bundle) | truth.decision_metrics(bundle)
    configure(settings)
    with run(f"evaluate model {bundle.model_version} on data {tables.snapshot.sha256[:8]}", description=(
            f"Scores model {bundle.model_version} on {data_dir}: out of sample on periods it was not trained on"
            + (", and against the synthetic world's truth" if truth is not None else "") + ".")) as log:
        log.dataset("programs", data_dir, tables.snapshot.sha256[:16], tables.programs, context="evaluation")
        log.tags({**provenance_tags(), "model": bundle.model_version, "data.dir": str(data_dir),
                  "data.sha256": tables.snapshot.sha256})
        log.metrics(metrics)
    return metrics
