"""The truth of a simulated world in the form the jobs score against (`training.truth.TruthReference`).

The CLI builds one when a data folder holds a truth.json, so `train` and `evaluate` report how far the forecasts
and the recommendation are from what the world really does.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from models.bundle import CareAllocBundle
from synthetic.decision import score_against_truth
from synthetic.truth import TRUTH_FILE, Truth


class SyntheticTruth:
    def __init__(self, truth: Truth):
        self.truth = truth

    @classmethod
    def beside(cls, data_dir: Path) -> SyntheticTruth | None:
        """The truth written next to simulated tables, if there is one."""
        return cls(Truth.load(data_dir)) if (data_dir / TRUTH_FILE).is_file() else None

    def describes(self, bundle: CareAllocBundle) -> bool:
        return set(self.truth.program_ids) == set(bundle.programs)

    def curve(self, program_id: str, funding: np.ndarray) -> pd.DataFrame:
        return self.truth.curve(program_id, funding)

    def curve_metrics(self, bundle: CareAllocBundle) -> dict[str, float]:
        return truth_curve_error(bundle.curve, self.truth)

    def decision_metrics(self, bundle: CareAllocBundle) -> dict[str, float]:
        score = score_against_truth(bundle, self.truth).to_dict()
        metrics = {"truth_captured_share": _or_nan(score["captured_share"])}
        for name, share in score["baselines_captured_share"].items():
            metrics[f"truth_captured_share_{name}"] = _or_nan(share)
        return metrics


def _or_nan(value: float | None) -> float:
    return float(value) if value is not None else float("nan")


def truth_curve_error(curve: Callable[[str, np.ndarray], pd.DataFrame], truth: Truth,
                      points: int = 11) -> dict[str, float]:
    """Forecast vs true expected reliable improvements over 0.5x..1.5x each programme's last funding.

    `curve(program_id, funding)` returns a frame with `reliable_improvements`. `relative` averages each
    programme's error relative to its own mean true value (small programmes weigh as much as big ones);
    `weighted` divides total error by total true value.
    """
    relative, absolute, total_truth = [], [], 0.0
    for pid, funding in truth.current_funding.items():
        grid = funding * np.linspace(0.5, 1.5, points)
        forecast = curve(pid, grid)["reliable_improvements"].to_numpy()
        actual = truth.curve(pid, grid)["reliable_improvements"].to_numpy()
        absolute.append(float(np.mean(np.abs(forecast - actual))))
        relative.append(absolute[-1] / max(float(actual.mean()), 1e-9))
        total_truth += float(actual.mean())
    return {"truth_curve_mae": float(np.mean(absolute)), "truth_curve_relative_mae": float(np.mean(relative)),
            "truth_curve_weighted_relative_mae": float(np.sum(absolute) / max(total_truth, 1e-9)),
            "truth_curve_worst_relative_mae": float(np.max(relative))}
