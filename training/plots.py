"""Figures logged with every training run: calibration, SHAP summary and outcome curves per programme."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.shap_values import shap_contributions


def calibration_figure(reliability: dict[str, pd.DataFrame]) -> Figure:
    fig = Figure(figsize=(9, 4))
    for ax, (name, table) in zip(fig.subplots(1, len(reliability)), reliability.items(), strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1)
        ax.plot(table["forecast"], table["observed"], marker="o")
        ax.set_title(f"{name}: reliability on the temporal holdout")
        ax.set_xlabel("forecast probability")
        ax.set_ylabel("observed rate")
    fig.tight_layout()
    return fig


def shap_summary_figure(model: Any, X: pd.DataFrame, title: str) -> Figure:
    """Mean |SHAP| per feature (bar chart): which inputs move the forecast most."""
    values, names = shap_contributions(model, X)
    importance = pd.Series(np.abs(values).mean(axis=0), index=names).sort_values()
    fig = Figure(figsize=(7, 6))
    ax = fig.subplots()
    ax.barh(importance.index, importance.to_numpy())
    ax.set_title(title)
    ax.set_xlabel("mean |SHAP value| (log-odds)")
    fig.tight_layout()
    return fig


def outcome_curves_figure(curves: pd.DataFrame, states: dict[str, Any], truth: Any | None = None) -> Figure:
    programs = sorted(states)
    cols = 6
    rows = int(np.ceil(len(programs) / cols))
    fig = Figure(figsize=(3 * cols, 2.4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, pid in zip(axes, programs, strict=False):
        state = states[pid]
        grid = curves[curves["program_id"] == pid]
        ax.axvspan(state.observed_min, state.observed_max, color="0.9")
        ax.fill_between(grid["funding"], grid["reliable_improvements_lower"], grid["reliable_improvements_upper"],
                        alpha=0.3)
        ax.plot(grid["funding"], grid["reliable_improvements"], label="forecast")
        if truth is not None:
            ax.plot(grid["funding"], truth.curve(pid, grid["funding"].to_numpy())["reliable_improvements"],
                    color="black", linestyle=":", label="truth")
        ax.axvline(state.current_funding, color="red", linewidth=0.8)
        ax.set_title(f"{pid} ({state.modality})", fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes[len(programs):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=6)
    fig.suptitle("Expected reliable improvements vs funding (shaded: observed range; red: current)")
    fig.tight_layout()
    return fig
