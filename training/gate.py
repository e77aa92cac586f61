"""The promotion gate: a new model becomes @challenger; it replaces @champion only if it is not worse.

"Not worse" compares the calibration-aware holdout score (response + dropout log loss, lower is better) with
the champion's, logged by the champion's own training run, within a small relative tolerance (Settings). Versions
are never deleted: a rejected challenger stays in the registry with its alias and its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracking.registry import CHALLENGER, CHAMPION, ModelRegistry

SCORE = "holdout_score"


@dataclass(frozen=True)
class GateDecision:
    version: str
    promoted: bool
    reason: str
    champion_version: str | None
    champion_score: float | None
    champion_metrics: dict[str, float] | None


def decide(version: str, score: float, champion: tuple[str, dict[str, float]] | None,
           tolerance: float) -> GateDecision:
    """Whether `version` (holdout `score`) replaces the champion (its version and its run's metrics, or None)."""
    if champion is None:
        return GateDecision(version, True, "no champion yet", None, None, None)
    champ_version, champ_metrics = champion
    champ_score = champ_metrics.get(SCORE)
    if champ_score is None:
        promoted, reason = True, f"champion v{champ_version} has no {SCORE} to compare with"
    elif score <= champ_score * (1 + tolerance):
        promoted = True
        reason = (f"{SCORE} {score:.5f} is not worse than champion v{champ_version}'s {champ_score:.5f} "
                  f"(tolerance {tolerance:.1%})")
    else:
        promoted = False
        reason = (f"{SCORE} {score:.5f} is worse than champion v{champ_version}'s {champ_score:.5f} "
                  f"(tolerance {tolerance:.1%}); champion kept")
    return GateDecision(version, promoted, reason, champ_version, champ_score, champ_metrics)


def apply_gate(registry: ModelRegistry, version: str, score: float, tolerance: float) -> GateDecision:
    registry.set_alias(CHALLENGER, version)
    found = registry.version(CHAMPION)
    champion = (found.version, registry.run_metrics(found.run_id)) if found is not None else None
    decision = decide(version, score, champion, tolerance)
    if decision.promoted:
        registry.set_alias(CHAMPION, version)
    return decision
