"""The pilot check: did the budget change work? Spec + programme x period aggregates in, effects and warnings out.

Every effect is a difference-in-differences of programme-level pre-post changes (pilot minus control, programmes
weighted by their post-period episodes, `pilots.estimators`), shown beside the plain pre-post change of the pilot
group. Anything that would make a number meaningless is an error naming the field (`PilotInputError`); anything
that makes it fragile is a warning carried in the result, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pilots.aggregates import PilotInputError, check_aggregates
from pilots.estimators import Estimate, difference_in_differences, pre_post, within_slope
from pilots.matching import Match, match_controls
from pilots.power import Power, design_mde, realised_mde
from pilots.spec import PilotSpec

MIN_GROUP = 2
PRIMARY = "reliable_improvement_itt"
METRICS: dict[str, tuple[str, str, str]] = {
    PRIMARY: ("reliable improvement rate (ITT: no final score = not improved)", "reliable_improvements", "episodes"),
    "reliable_improvement_completers": ("reliable improvement rate (completers: episodes with a final score)",
                                        "reliable_improvements", "completers"),
    "dropout_rate": ("dropout rate", "dropouts", "episodes"),
    "mean_score_change": ("mean score improvement of completers (points, + = better)", "score_change_sum",
                          "completers"),
    "cost_per_reliable_improvement": ("cost per reliable improvement", "funding", "reliable_improvements"),
}


@dataclass(frozen=True)
class MetricEffect:
    metric: str
    label: str
    pilot_pre: float
    pilot_post: float
    control_pre: float
    control_post: float
    pre_post: Estimate | None
    did: Estimate | None
    programs_used: int

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "label": self.label, "pilot_pre": self.pilot_pre,
                "pilot_post": self.pilot_post, "control_pre": self.control_pre, "control_post": self.control_post,
                "pre_post": self.pre_post.to_dict() if self.pre_post else None,
                "difference_in_differences": self.did.to_dict() if self.did else None,
                "programs_used": self.programs_used}


@dataclass(frozen=True)
class PilotResult:
    spec: PilotSpec
    pilot_programs: list[str]
    control_programs: list[str]
    matches: list[Match]
    effects: list[MetricEffect]
    power_before: Power
    power_after: Power | None
    parallel_trends: Estimate | None
    series: pd.DataFrame
    """Per period and group (pilot/control): pooled ITT reliable-improvement rate, episodes and funding."""
    warnings: list[str] = field(default_factory=list)

    def effect(self, metric: str) -> MetricEffect:
        return next(e for e in self.effects if e.metric == metric)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: plain Python numbers, and None where a value is undefined (NaN)."""
        return _json_ready({
            "spec": self.spec.model_dump(), "pilot_programs": self.pilot_programs,
            "control_programs": self.control_programs,
            "matches": [{"pilot": m.pilot, "control": m.control, "distance": m.distance} for m in self.matches],
            "effects": [e.to_dict() for e in self.effects],
            "power": {"before": self.power_before.to_dict(),
                      "after": self.power_after.to_dict() if self.power_after else None,
                      "expected_effect": self.spec.expected_effect},
            "parallel_trends": self.parallel_trends.to_dict() if self.parallel_trends else None,
            "series": self.series.to_dict(orient="records"),
            "warnings": self.warnings,
        })


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def evaluate_pilot(spec: PilotSpec, aggregates: pd.DataFrame) -> PilotResult:
    """Evaluate `spec` on programme x period aggregates (`pilots.aggregates.AGGREGATE_COLUMNS`)."""
    frame = check_aggregates(aggregates)
    _check_periods(spec, frame)
    warnings: list[str] = []
    phase = np.where(frame["period"].isin(spec.pre_periods), "pre",
                     np.where(frame["period"].isin(spec.post_periods), "post", ""))
    used = frame.assign(phase=phase)[phase != ""]
    summed = ["episodes", "completers", "reliable_improvements", "dropouts", "score_change_sum", "funding"]
    totals = used.groupby(["program_id", "phase"])[summed].sum().unstack("phase", fill_value=0)
    known = set(frame["program_id"])
    totals = totals.reindex(index=sorted(known), columns=pd.MultiIndex.from_product(
        [totals.columns.levels[0], ["pre", "post"]]), fill_value=0)
    pilots = list(spec.pilot_programs)
    _check_known("pilot_programs", pilots, known)
    _check_episodes("pilot_programs", pilots, totals)
    if len(pilots) < MIN_GROUP:
        raise PilotInputError("pilot_programs", f"a single piloted programme ({pilots[0]}) gives no estimate of how "
                              "much programmes differ by chance; pilot at least 2 programmes (or sites)")
    matches: list[Match] = []
    if spec.controls == "auto":
        candidates = [p for p in totals.index if p not in pilots
                      and totals.loc[p, ("episodes", "pre")] > 0 and totals.loc[p, ("episodes", "post")] > 0]
        profile = _profile(frame, totals)
        matches = match_controls(profile, pilots, sorted(candidates), spec.controls_per_pilot)
        controls = [m.control for m in matches]
        modality = profile["modality"].astype(str).to_dict()
        mismatched = sorted({m.pilot for m in matches if modality[m.pilot] != modality[m.control]})
        if mismatched:
            warnings.append(f"no control of the same modality was left for {mismatched}; their matched controls "
                            "are of another kind of care")
        if len(controls) < len(pilots) * spec.controls_per_pilot:
            warnings.append(f"only {len(controls)} programmes were available as controls "
                            f"({len(pilots) * spec.controls_per_pilot} asked for)")
    else:
        controls = list(spec.controls)
        _check_known("controls", controls, known)
        _check_episodes("controls", controls, totals)
    if len(controls) < MIN_GROUP:
        raise PilotInputError("controls", f"{len(controls)} control programme(s) ({', '.join(controls) or 'none'}): "
                              "a difference-in-differences needs at least 2 to estimate how much programmes "
                              "differ by chance")
    effects = [_metric_effect(name, totals, pilots, controls, spec.alpha, warnings) for name in METRICS]
    primary = effects[0].did
    series = _series(used, pilots, controls)
    trends = _parallel_trends(used, spec, pilots, controls, warnings)
    pre_rows = used[(used["phase"] == "pre") & used["program_id"].isin([*pilots, *controls])]
    before = design_mde(pre_rows, set(pilots), len(spec.post_periods), spec.alpha, spec.power)
    after = realised_mde(primary, spec.alpha, spec.power) if primary else None
    if after is not None and not np.isfinite(after.mde):
        after = None
        warnings.append("the fitted degrees of freedom are too few for a minimum detectable effect after the fact")
    _power_warnings(spec, before, after, warnings)
    return PilotResult(spec, pilots, controls, matches, effects, before, after, trends, series, warnings)


def _check_periods(spec: PilotSpec, frame: pd.DataFrame) -> None:
    periods = sorted(set(frame["period"]))
    for name in ("pre_periods", "post_periods"):
        outside = [p for p in getattr(spec, name) if p not in set(periods)]
        if outside:
            raise PilotInputError(name, f"{outside} not in the data, which holds periods "
                                        f"{periods[0]}..{periods[-1]}" if periods else "the data hold no periods")


def _check_known(name: str, programs: list[str], known: set[str]) -> None:
    unknown = [p for p in programs if p not in known]
    if unknown:
        raise PilotInputError(name, f"unknown programme(s) {unknown}: not in the data")


def _check_episodes(name: str, programs: list[str], totals: pd.DataFrame) -> None:
    for phase in ("pre", "post"):
        empty = [p for p in programs if totals.loc[p, ("episodes", phase)] == 0]
        if empty:
            raise PilotInputError(name, f"programme(s) {empty} have no episodes in the {phase} periods, so their "
                                        "change cannot be measured; drop them or choose other periods")


def _profile(frame: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    first = frame.groupby("program_id")[["modality", "region"]].first()
    pre_episodes = totals[("episodes", "pre")]
    rate = (totals[("reliable_improvements", "pre")] / pre_episodes.where(pre_episodes > 0)).fillna(0.0)
    return first.assign(pre_rate=rate.reindex(first.index), pre_episodes=pre_episodes.reindex(first.index))


def _metric_effect(name: str, totals: pd.DataFrame, pilots: list[str], controls: list[str], alpha: float,
                   warnings: list[str]) -> MetricEffect:
    label, numerator, denominator = METRICS[name]
    rows = totals.loc[[*pilots, *controls]]
    den_pre, den_post = rows[(denominator, "pre")].to_numpy(float), rows[(denominator, "post")].to_numpy(float)
    num_pre, num_post = rows[(numerator, "pre")].to_numpy(float), rows[(numerator, "post")].to_numpy(float)
    treated = np.isin(rows.index, pilots)
    ok = (den_pre > 0) & (den_post > 0)
    if not ok.all():
        warnings.append(f"{label}: programme(s) {sorted(rows.index[~ok])} left out (no {denominator} before or "
                        "after)")
    change = num_post[ok] / den_post[ok] - num_pre[ok] / den_pre[ok]
    weight = rows[("episodes", "post")].to_numpy(float)[ok]
    t = treated[ok]

    def pooled(num: np.ndarray, den: np.ndarray, group: np.ndarray) -> float:
        return float(num[ok & group].sum() / den[ok & group].sum()) if (ok & group).any() else float("nan")

    did = prepost = None
    if t.sum() >= MIN_GROUP and (~t).sum() >= MIN_GROUP:
        try:
            did = difference_in_differences(change, t, weight, alpha)
            prepost = pre_post(change[t], weight[t], alpha)
        except ValueError as exc:
            warnings.append(f"{label}: not estimated ({exc})")
    else:
        warnings.append(f"{label}: not estimated (fewer than {MIN_GROUP} programmes per group have it)")
    return MetricEffect(name, label, pooled(num_pre, den_pre, treated), pooled(num_post, den_post, treated),
                        pooled(num_pre, den_pre, ~treated), pooled(num_post, den_post, ~treated), prepost, did,
                        int(ok.sum()))


def _series(used: pd.DataFrame, pilots: list[str], controls: list[str]) -> pd.DataFrame:
    group = np.where(used["program_id"].isin(pilots), "pilot", np.where(used["program_id"].isin(controls),
                                                                        "control", ""))
    per = used.assign(group=group)[group != ""].groupby(["period", "phase", "group"], as_index=False)[
        ["episodes", "reliable_improvements", "funding"]].sum()
    per["reliable_improvement_rate"] = per["reliable_improvements"] / per["episodes"].where(per["episodes"] > 0)
    return per.sort_values(["group", "period"], ignore_index=True)


def _parallel_trends(used: pd.DataFrame, spec: PilotSpec, pilots: list[str], controls: list[str],
                     warnings: list[str]) -> Estimate | None:
    """Pilot minus control difference in pre-period slopes of the ITT rate (per period)."""
    if len(spec.pre_periods) < 2:
        warnings.append("only one pre period: parallel trends cannot be checked; the difference-in-differences "
                        "assumes pilot and control programmes would have moved alike")
        return None
    position = {p: i for i, p in enumerate(sorted(spec.pre_periods))}
    pre = used[used["phase"] == "pre"]
    slopes, weights, treated = [], [], []
    for program in [*pilots, *controls]:
        rows = pre[pre["program_id"] == program]
        n = rows["episodes"].to_numpy(float)
        rate = rows["reliable_improvements"].to_numpy(float) / np.maximum(n, 1)
        slope = within_slope(rate, rows["period"].map(position).to_numpy(), n)
        if np.isfinite(slope):
            slopes.append(slope)
            weights.append(n.sum())
            treated.append(program in pilots)
    t = np.array(treated, dtype=bool)
    if t.sum() < MIN_GROUP or (~t).sum() < MIN_GROUP:
        warnings.append("too few programmes with episodes in two or more pre periods to check parallel trends")
        return None
    try:
        check = difference_in_differences(np.array(slopes), t, np.array(weights), spec.alpha)
    except ValueError as exc:
        warnings.append(f"parallel trends not checked ({exc})")
        return None
    if check.p_value < spec.alpha:
        warnings.append(f"pre-period trends differ (pilot minus control slope {check.estimate:+.4f} per period, "
                        f"p = {check.p_value:.3f}): the difference-in-differences may be biased")
    return check


def _power_warnings(spec: PilotSpec, before: Power, after: Power | None, warnings: list[str]) -> None:
    hoped = spec.expected_effect
    if hoped is None:
        return
    if abs(hoped) < before.mde:
        warnings.append(f"pilot too small: as designed it can detect a change of {before.mde:.3f} in the ITT "
                        f"reliable-improvement rate (power {spec.power:.0%}), larger than the hoped-for "
                        f"{abs(hoped):.3f}; add programmes or periods")
    if after is not None and abs(hoped) < after.mde:
        warnings.append(f"after the fact the minimum detectable effect is {after.mde:.3f}, larger than the "
                        f"hoped-for {abs(hoped):.3f}: a non-significant result does not show the change failed")
