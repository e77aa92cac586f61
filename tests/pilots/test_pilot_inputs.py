"""Bad specs and bad aggregates: clear errors naming the field, never a silent number."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from pydantic import ValidationError

from pilots import PilotInputError, PilotSpec, evaluate_pilot

BASE = {"pilot_programs": ["A", "B"], "pre_periods": ["2025-Q1"], "post_periods": ["2025-Q2"],
        "controls": ["C", "D"]}


@pytest.mark.parametrize(("change", "message"), [
    ({"controls": ["B", "C"]}, "pilot and control groups overlap: ['B']"),
    ({"pre_periods": ["2025-Q2"], "post_periods": ["2025-Q1"]}, "every pre period must come before"),
    ({"post_periods": ["2025-Q1", "2025-Q2"]}, "in both pre_periods and post_periods"),
    ({"pilot_programs": ["A", "A"]}, "pilot_programs lists ['A'] more than once"),
    ({"pre_periods": ["2025-13"]}, "String should match pattern"),
    ({"pilot_programs": []}, "at least 1 item"),
    ({"controls": "nearest"}, "controls"),
    ({"budget": 3}, "Extra inputs are not permitted"),
])
def test_spec_validation(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        PilotSpec(**{**BASE, **change})


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"pre_periods": ["2024-Q4"]}, "pre_periods", "['2024-Q4'] not in the data, which holds periods 2025-Q1..2025-Q2"),
    ({"post_periods": ["2026-Q1"]}, "post_periods", "not in the data"),
    ({"pilot_programs": ["A", "Z"]}, "pilot_programs", "unknown programme(s) ['Z']"),
    ({"controls": ["C", "Y"]}, "controls", "unknown programme(s) ['Y']"),
    ({"controls": ["C"]}, "controls", "1 control programme(s) (C)"),
    ({"pilot_programs": ["A"], "controls": ["C", "D"]}, "pilot_programs", "a single piloted programme (A)"),
])
def test_spec_against_the_data(hand_frame: pd.DataFrame, change: dict[str, object], field: str,
                               message: str) -> None:
    with pytest.raises(PilotInputError) as caught:
        evaluate_pilot(PilotSpec(**{**BASE, **change}), hand_frame)
    assert caught.value.field == field
    assert message in caught.value.message


def test_group_without_episodes_is_named(hand_frame: pd.DataFrame) -> None:
    frame = hand_frame.copy()
    empty = (frame["program_id"] == "D") & (frame["period"] == "2025-Q2")
    frame.loc[empty, ["episodes", "completers", "reliable_improvements", "dropouts", "score_change_sum"]] = 0
    with pytest.raises(PilotInputError, match=r"controls: programme\(s\) \['D'\] have no episodes in the post"):
        evaluate_pilot(PilotSpec(**BASE), frame)


def test_missing_row_counts_as_no_episodes(hand_frame: pd.DataFrame) -> None:
    frame = hand_frame[~((hand_frame["program_id"] == "B") & (hand_frame["period"] == "2025-Q1"))]
    with pytest.raises(PilotInputError, match=r"pilot_programs: programme\(s\) \['B'\] have no episodes in the pre"):
        evaluate_pilot(PilotSpec(**BASE), frame)


def test_programme_seen_only_outside_the_chosen_periods(make_rows: Callable[..., pd.DataFrame]) -> None:
    frame = make_rows({"A": (0.2, 0.3, 0.3), "B": (0.25, 0.3, 0.3), "C": (0.2, 0.22, 0.2), "D": (0.3, 0.3, 0.3)})
    late = frame[(frame["program_id"] == "A") & (frame["period"] == "2025-Q3")].assign(program_id="E")
    spec = PilotSpec(**{**BASE, "pilot_programs": ["A", "E"]})
    with pytest.raises(PilotInputError, match=r"\['E'\] have no episodes in the pre periods"):
        evaluate_pilot(spec, pd.concat([frame, late], ignore_index=True))


def test_auto_controls_need_two_candidates(make_rows: Callable[..., pd.DataFrame]) -> None:
    frame = make_rows({"A": (0.2, 0.3), "B": (0.25, 0.3), "C": (0.2, 0.22)})
    spec = PilotSpec(**{**BASE, "controls": "auto"})
    with pytest.raises(PilotInputError, match="1 control programme"):
        evaluate_pilot(spec, frame)


@pytest.mark.parametrize(("edit", "field"), [
    (lambda f: pd.concat([f, f.iloc[[0]]], ignore_index=True), "aggregates[8]"),
    (lambda f: f.assign(completers=f["episodes"] + 1), "aggregates[0].completers"),
    (lambda f: f.assign(reliable_improvements=f["completers"] + 1), "aggregates[0].reliable_improvements"),
    (lambda f: f.drop(columns="dropouts"), "aggregates"),
])
def test_bad_aggregates(hand_frame: pd.DataFrame, edit: Callable[[pd.DataFrame], pd.DataFrame], field: str) -> None:
    with pytest.raises(PilotInputError) as caught:
        evaluate_pilot(PilotSpec(**BASE), edit(hand_frame))
    assert caught.value.field == field


def test_auto_matching_prefers_same_modality_and_similar_programmes(make_rows: Callable[..., pd.DataFrame]) -> None:
    cbt = make_rows({"A": (0.30, 0.40), "B": (0.20, 0.30), "C1": (0.31, 0.33), "C2": (0.21, 0.20),
                     "C3": (0.36, 0.31)})
    other = make_rows({"G1": (0.30, 0.31), "G2": (0.20, 0.21)}, modality="group_therapy")
    spec = PilotSpec(**{**BASE, "controls": "auto", "controls_per_pilot": 1})
    result = evaluate_pilot(spec, pd.concat([cbt, other], ignore_index=True))
    assert {(m.pilot, m.control) for m in result.matches} == {("A", "C1"), ("B", "C2")}
    assert result.control_programs == ["C1", "C2"]
    assert not any("modality" in w for w in result.warnings)


def test_undefined_ratio_is_left_out_with_a_warning(hand_frame: pd.DataFrame) -> None:
    frame = hand_frame.copy()
    none = (frame["program_id"] == "C") & (frame["period"] == "2025-Q1")
    frame.loc[none, ["reliable_improvements", "score_change_sum"]] = 0
    result = evaluate_pilot(PilotSpec(**BASE), frame)
    cost = result.effect("cost_per_reliable_improvement")
    assert cost.did is None and cost.programs_used == 3
    assert any("cost per reliable improvement: programme(s) ['C'] left out" in w for w in result.warnings)
    assert any("cost per reliable improvement: not estimated" in w for w in result.warnings)
    assert result.to_dict()["effects"][4]["difference_in_differences"] is None
