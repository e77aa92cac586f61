"""The promotion gate: a new model becomes @challenger; it replaces @champion only if it is not worse.

"Not worse" compares the calibration-aware holdout score (response + dropout log loss, lower is better) with
the champion's, logged by the champion's own training run, within a small relative tolerance (Settings). Versions
are never deleted: a rejected challenger stays in the registry with its alias and its reasons.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

CHAMPION = "champion"
CHALLENGER = "challenger"
SCORE = "holdout_score"


@dataclass(frozen=True)
class GateDecision:
    version: str
    promoted: bool
    reason: str
    champion_version: str | None
    champion_score: float | None
    champion_metrics: dict[str, float] | None


def current_champion(client: MlflowClient, name: str) -> tuple[str, dict[str, float]] | None:
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    metrics = client.get_run(version.run_id).data.metrics if version.run_id else {}
    return str(version.version), dict(metrics)


def apply_gate(client: MlflowClient, name: str, version: str, score: float, tolerance: float) -> GateDecision:
    client.set_registered_model_alias(name, CHALLENGER, version)
    champion = current_champion(client, name)
    if champion is None:
        promoted, reason, champ_version, champ_score, champ_metrics = True, "no champion yet", None, None, None
    else:
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
    if promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    return GateDecision(version, promoted, reason, champ_version, champ_score, champ_metrics)
