"""The `evaluate` job: score a registered model bundle and log the figures to MLflow.

On synthetic data (truth.json beside the tables) the truth gives the figures that matter: forecast curve error
and the share of achievable uplift the recommendation captures. On any data, episodes from periods after the
model's training data are scored out of sample (AUC, Brier, log loss, calibration).
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np

from carealloc.settings import Settings
from features.tables import load_tables
from features.world.truth import TRUTH_FILE, Truth
from models.bundle import CareAllocBundle
from models.evaluation import binary_metrics, truth_curve_error
from models.suite import targets
from training.decision import score_against_truth
from training.tracking import configure, provenance_tags


def evaluate_model(bundle: CareAllocBundle, data_dir: Path, settings: Settings) -> dict[str, float]:
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
    if (data_dir / TRUTH_FILE).is_file():
        truth = Truth.load(data_dir)
        if set(truth.program_ids) == set(bundle.programs):
            metrics |= truth_curve_error(bundle.curve, truth)
            score = score_against_truth(bundle, truth).to_dict()
            metrics["truth_captured_share"] = score["captured_share"] if score["captured_share"] is not None else np.nan
            for name, share in score["baselines_captured_share"].items():
                metrics[f"truth_captured_share_{name}"] = share if share is not None else np.nan
    configure(settings)
    with mlflow.start_run(run_name="evaluate"):
        mlflow.set_tags({**provenance_tags(), "model": bundle.model_version, "data.dir": str(data_dir),
                         "data.sha256": tables.snapshot.sha256})
        mlflow.log_metrics(metrics)
    return metrics
