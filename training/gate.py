"""The promotion gate: a new model becomes @challenger; it replaces @champion only if it is not worse.

"Not worse" compares calibration-aware holdout scores (response + dropout log loss, lower is better) on the
same, newest holdout: the challenger's configuration and the champion's (the parameters its training run
logged) are each fitted on the periods before that holdout and scored on it (`rescore`), so the two numbers
differ only by the configuration, never by which periods happened to be held out when the champion was
trained. A small relative tolerance (Settings) absorbs fitting noise. Versions are never deleted: a rejected
challenger stays in the registry with its alias and its reasons. The champion's own stored score is kept for
reference only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tracking.registry import CHALLENGER, CHAMPION, ModelRegistry

SCORE = "holdout_score"


@dataclass(frozen=True)
class GateDecision:
    version: str
    promoted: bool
    reason: str
    champion_version: str | None
    champion_score: float | None
    """The champion's score on the challenger's holdout (None: no champion, or none to re-score)."""
    champion_metrics: dict[str, float] | None
    """The metrics the champion's own training run logged (its stored score is from its own, older holdout)."""
    challenger_score: float | None = None


def decide(version: str, score: float, champion: tuple[str, float | None] | None,
           tolerance: float) -> GateDecision:
    """Whether `version` (holdout `score`) replaces the champion (its version and its score on the same holdout,
    or None)."""
    if champion is None:
        return GateDecision(version, True, "no champion yet", None, None, None, score)
    champ_version, champ_score = champion
    if champ_score is None:
        promoted, reason = True, f"champion v{champ_version} has no {SCORE} to compare with"
    elif score <= champ_score * (1 + tolerance):
        promoted = True
        reason = (f"{SCORE} {score:.5f} is not worse than champion v{champ_version}'s {champ_score:.5f} on the "
                  f"same holdout (tolerance {tolerance:.1%})")
    else:
        promoted = False
        reason = (f"{SCORE} {score:.5f} is worse than champion v{champ_version}'s {champ_score:.5f} on the same "
                  f"holdout (tolerance {tolerance:.1%}); champion kept")
    return GateDecision(version, promoted, reason, champ_version, champ_score, None, score)


def logged_params(raw: Mapping[str, str], names: set[str]) -> dict[str, Any]:
    """The model parameters among a run's logged params (MLflow keeps them as text: numbers are parsed back)."""
    params: dict[str, Any] = {}
    for key in sorted(names & set(raw)):
        try:
            params[key] = json.loads(raw[key])
        except json.JSONDecodeError:
            params[key] = raw[key]
    return params


def apply_gate(registry: ModelRegistry, version: str, score: float, tolerance: float,
               rescore: Callable[[dict[str, Any]], float] | None = None,
               param_names: set[str] | None = None) -> GateDecision:
    """`rescore(params)`: the holdout score of a configuration on the challenger's holdout; the champion's
    logged parameters (restricted to `param_names`) go through it. Without it the champion counts as not
    comparable on one holdout and its stored score (from its own training run's holdout) stands in."""
    registry.set_alias(CHALLENGER, version)
    found = registry.version(CHAMPION)
    if found is None:
        decision = decide(version, score, None, tolerance)
    else:
        champion_metrics = registry.run_metrics(found.run_id)
        champion_score = champion_metrics.get(SCORE)  # its own, older holdout: only when nothing can re-score
        if rescore is not None:
            champion_score = rescore(logged_params(registry.run_params(found.run_id), param_names or set()))
        decided = decide(version, score, (found.version, champion_score), tolerance)
        decision = GateDecision(decided.version, decided.promoted, decided.reason, decided.champion_version,
                                decided.champion_score, champion_metrics, score)
    if decision.promoted:
        registry.set_alias(CHAMPION, version)
    return decision
