"""The promotion gate compares champion and challenger on the same holdout, never a stored older score."""

from __future__ import annotations

from typing import Any

import pytest

from tracking.registry import CHALLENGER, CHAMPION, RegisteredVersion
from training.gate import SCORE, apply_gate, decide, logged_params


class Registry:
    """The four registry calls the gate makes, over dictionaries."""

    def __init__(self, champion: str | None, metrics: dict[str, float], params: dict[str, str]):
        self.aliases: dict[str, str] = {CHAMPION: champion} if champion else {}
        self.metrics, self.params = metrics, params

    def set_alias(self, alias: str, version: str) -> None:
        self.aliases[alias] = version

    def version(self, alias: str) -> RegisteredVersion | None:
        found = self.aliases.get(alias)
        return RegisteredVersion("m", found, "run-of-" + found, ()) if found else None

    def run_metrics(self, run_id: str | None) -> dict[str, float]:
        return dict(self.metrics)

    def run_params(self, run_id: str | None) -> dict[str, str]:
        return dict(self.params)


def test_champion_is_rescored_on_the_challengers_holdout_with_its_own_parameters() -> None:
    # The champion's stored score (1.00, from its own older holdout) would let a worse challenger through.
    registry = Registry("1", {SCORE: 1.00}, {"num_leaves": "31", "learning_rate": "0.05", "seed": "0",
                                              "data_periods": "2024-Q1..2025-Q4"})
    seen: list[dict[str, Any]] = []

    def rescore(params: dict[str, Any]) -> float:
        seen.append(params)
        return 0.90

    decision = apply_gate(registry, "2", 0.95, 0.001, rescore, {"num_leaves", "learning_rate"})  # type: ignore[arg-type]
    assert seen == [{"learning_rate": 0.05, "num_leaves": 31}]  # parsed back to numbers, model params only
    assert not decision.promoted and "same holdout" in decision.reason
    assert decision.champion_score == 0.90 and decision.challenger_score == 0.95
    assert decision.champion_metrics == {SCORE: 1.00}
    assert registry.aliases == {CHAMPION: "1", CHALLENGER: "2"}

    better = apply_gate(registry, "3", 0.85, 0.001, lambda params: 0.90, {"num_leaves"})  # type: ignore[arg-type]
    assert better.promoted and registry.aliases[CHAMPION] == "3"


def test_decide_without_a_champion_and_within_tolerance() -> None:
    assert decide("1", 1.0, None, 0.01).promoted
    assert decide("2", 1.005, ("1", 1.0), 0.01).promoted
    assert not decide("2", 1.02, ("1", 1.0), 0.01).promoted


def test_logged_params_keep_text_that_is_not_json() -> None:
    assert logged_params({"a": "1.5", "b": "gbdt", "c": "x"}, {"a", "b"}) == {"a": 1.5, "b": "gbdt"}


@pytest.mark.parametrize("score", [0.5, 2.0])
def test_a_first_model_is_always_promoted(score: float) -> None:
    registry = Registry(None, {}, {})
    decision = apply_gate(registry, "1", score, 0.0, lambda params: 0.0, set())  # type: ignore[arg-type]
    assert decision.promoted and decision.reason == "no champion yet"
