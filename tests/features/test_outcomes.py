"""Hand-worked outcome cases, boundaries included (CONTRACT.md and IAPT definitions)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from features.instruments import INSTRUMENTS, get_instrument
from features.outcomes import derive_outcomes


def outcome(instrument: str, baseline: float, final: float | None) -> dict[str, object]:
    frame = derive_outcomes(pd.Series([instrument]), pd.Series([baseline]),
                            pd.Series([math.nan if final is None else final]))
    return {k: (None if pd.isna(v) else bool(v)) for k, v in frame.iloc[0].items()}


@pytest.mark.parametrize(
    ("instrument", "baseline", "final", "flag", "expected"),
    [
        ("PHQ-9", 16, 10, "reliable_improvement", True),  # exactly 6 points: reliable
        ("PHQ-9", 16, 11, "reliable_improvement", False),  # 5 points: not reliable
        ("PHQ-9", 10, 16, "reliable_deterioration", True),
        ("PHQ-9", 10, 15, "reliable_deterioration", False),
        ("GAD-7", 10, 6, "reliable_improvement", True),  # GAD-7 threshold is 4
        ("GAD-7", 10, 7, "reliable_improvement", False),
        ("PHQ-9", 20, 10, "response", True),  # 50 % reduction
        ("PHQ-9", 20, 11, "response", False),
        ("PHQ-9", 12, 4, "remission", True),  # remission is < 5
        ("PHQ-9", 12, 5, "remission", False),
        ("PHQ-9", 12, 9, "recovery", True),  # caseness >= 10 at start, < 10 at end
        ("PHQ-9", 12, 10, "recovery", False),
        ("PHQ-9", 9, 3, "recovery", None),  # not a case at intake: not in the recovery denominator
        ("GAD-7", 8, 7, "recovery", True),  # GAD-7 caseness is >= 8
        ("PHQ-9", 16, 9, "reliable_recovery", True),
        ("PHQ-9", 14, 9, "reliable_recovery", False),  # recovered but change of 5 is not reliable
        ("PSFS", 3, 5, "reliable_improvement", True),  # higher is better on PSFS
        ("PSFS", 3, 4.9, "reliable_improvement", False),
        ("PSFS", 5, 3, "reliable_deterioration", True),
        ("PSFS", 3, 8, "recovery", None),  # no caseness cut-off defined
        ("ODI", 50, 40, "reliable_improvement", True),
        ("NPRS", 7, 6, "reliable_improvement", False),
    ],
)
def test_hand_worked_cases(instrument: str, baseline: float, final: float, flag: str, expected: bool | None) -> None:
    assert outcome(instrument, baseline, final)[flag] is expected


def test_no_final_score_counts_as_not_improved() -> None:
    flags = outcome("PHQ-9", 22, None)
    assert flags["reliable_improvement"] is False
    assert flags["response"] is False
    assert flags["recovery"] is False  # started at caseness, so recovery applies, and did not happen
    assert flags["reliable_deterioration"] is False


def test_vectorised_rows_keep_their_own_instrument() -> None:
    frame = derive_outcomes(pd.Series(["PHQ-9", "GAD-7", "PSFS"], index=[7, 3, 5]),
                            pd.Series([16.0, 10.0, 3.0], index=[7, 3, 5]), pd.Series([11.0, 6.0, 5.0], index=[7, 3, 5]))
    assert list(frame.index) == [7, 3, 5]
    assert frame["reliable_improvement"].tolist() == [False, True, True]


def test_unknown_instrument_is_named() -> None:
    with pytest.raises(KeyError, match="HAM-D"):
        get_instrument("HAM-D")
    with pytest.raises(KeyError, match="HAM-D"):
        derive_outcomes(pd.Series(["HAM-D"]), pd.Series([10.0]), pd.Series([5.0]))


def test_every_instrument_cites_a_source_and_is_consistent() -> None:
    for inst in INSTRUMENTS.values():
        assert inst.source
        assert inst.min_score < inst.max_score
        assert 0 < inst.reliable_change < inst.span
        if inst.caseness is not None:
            assert inst.min_score < inst.caseness < inst.max_score
        assert inst.severity(inst.score_from_severity(0.3)) == pytest.approx(0.3)
