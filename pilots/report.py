"""A pilot result for people: effect rows for a table, and the outcome over periods for pilot vs control as a PNG.

matplotlib is imported inside `plot_series` with the Agg backend, so nothing here needs a display and importing
the module stays cheap.
"""

from __future__ import annotations

from pathlib import Path

from pilots.estimators import Estimate
from pilots.evaluate import PilotResult

EFFECT_COLUMNS = ("outcome", "pilot pre -> post", "control pre -> post", "pre-post", "diff-in-diff [95% CI]", "p")
SHORT_LABELS = {
    "reliable_improvement_itt": "reliable impr. (ITT)",
    "reliable_improvement_completers": "reliable impr. (completers)",
    "dropout_rate": "dropout rate",
    "mean_score_change": "score improvement (points)",
    "cost_per_reliable_improvement": "cost per reliable impr.",
}


def _number(value: float, metric: str) -> str:
    if value != value:  # NaN
        return "-"
    if metric == "cost_per_reliable_improvement":
        return f"{value:,.0f}"
    return f"{value:.2f}" if metric == "mean_score_change" else f"{value:.3f}"


def _did(estimate: Estimate | None, metric: str) -> str:
    if estimate is None:
        return "-"
    return (f"{_number(estimate.estimate, metric)} "
            f"[{_number(estimate.ci_low, metric)}, {_number(estimate.ci_high, metric)}]")


def effect_rows(result: PilotResult) -> list[list[str]]:
    """One row per outcome in `EFFECT_COLUMNS` order (the interval is at the spec's level, 95 % by default)."""
    rows = []
    for e in result.effects:
        rows.append([
            SHORT_LABELS[e.metric],
            f"{_number(e.pilot_pre, e.metric)} -> {_number(e.pilot_post, e.metric)}",
            f"{_number(e.control_pre, e.metric)} -> {_number(e.control_post, e.metric)}",
            _number(e.pre_post.estimate, e.metric) if e.pre_post else "-",
            _did(e.did, e.metric), f"{e.did.p_value:.3f}" if e.did else "-"])
    return rows


def inference_note(result: PilotResult) -> str:
    """The line under the table that says how its intervals were made (the JSON carries it per estimate)."""
    methods = sorted({e.method for effect in result.effects for e in (effect.pre_post, effect.did) if e is not None})
    return f"intervals and p-values: {'; '.join(methods) or 'none estimated'} (each programme is one cluster)"


def plot_series(result: PilotResult, path: str | Path) -> Path:
    """Pilot vs control ITT reliable-improvement rate per period, the change marked; written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    figure, axes = plt.subplots(figsize=(8, 4.5))
    periods = sorted(set(result.series["period"]))
    position = {p: i for i, p in enumerate(periods)}
    groups = {"pilot": result.pilot_programs, "control": result.control_programs}
    for (group, members), colour in zip(groups.items(), ("tab:orange", "tab:blue"), strict=True):
        rows = result.series[result.series["group"] == group]
        axes.plot([position[p] for p in rows["period"]], rows["reliable_improvement_rate"], marker="o",
                  color=colour, label=f"{group} ({len(members)} programmes)")
    first_post = min(result.spec.post_periods)
    axes.axvline(position[first_post] - 0.5, color="grey", linestyle="--", label="funding change")
    axes.set_xticks(range(len(periods)), periods, rotation=45, ha="right")
    axes.set_ylabel("reliable improvement rate (ITT)")
    did = result.effects[0].did
    title = "Pilot vs control"
    if did is not None:
        title += f": diff-in-diff {did.estimate:+.3f} ({did.ci_low:+.3f} .. {did.ci_high:+.3f})"
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)
    return path
