"""Properties of the outcome measures for any scores on any registered instrument (hypothesis-generated);
tests/features/test_outcomes.py has the hand-worked boundary cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.instruments import INSTRUMENTS
from features.outcomes import derive_outcomes

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
FLAGS = ("reliable_improvement", "reliable_deterioration", "response", "remission", "recovery", "reliable_recovery")


@st.composite
def episodes(draw: st.DrawFn) -> pd.DataFrame:
    rows = []
    for _ in range(draw(st.integers(1, 12))):
        instrument = INSTRUMENTS[draw(st.sampled_from(sorted(INSTRUMENTS)))]
        score = st.floats(instrument.min_score, instrument.max_score, allow_nan=False)
        final = draw(st.one_of(st.none(), score, st.sampled_from([instrument.min_score, instrument.max_score])))
        rows.append({"instrument": instrument.name, "baseline": draw(score),
                     "final": math.nan if final is None else final})
    frame = pd.DataFrame(rows)
    return frame.set_axis(draw(st.permutations(range(100, 100 + len(frame)))))  # any index, kept as given


@SETTINGS
@given(frame=episodes())
def test_measures_are_consistent_flags_for_any_scores(frame: pd.DataFrame) -> None:
    out = derive_outcomes(frame["instrument"], frame["baseline"], frame["final"])
    assert list(out.columns) == list(FLAGS) and out.index.equals(frame.index)
    assert all(str(out[c].dtype) == "boolean" for c in FLAGS)
    for index, row in frame.iterrows():
        flags = out.loc[index]
        instrument = INSTRUMENTS[row["instrument"]]
        has_final = not math.isnan(row["final"])
        assert not (flags["reliable_improvement"] and flags["reliable_deterioration"])
        if not has_final:  # no final score = not improved (never missing, never a success)
            assert not flags["reliable_improvement"] and not flags["reliable_deterioration"]
            assert not flags["response"]
            assert pd.isna(flags["recovery"]) or not flags["recovery"]
        assert pd.isna(flags["remission"]) == (instrument.remission is None)
        applicable = instrument.caseness is not None and instrument.is_case(row["baseline"])
        assert pd.isna(flags["recovery"]) == (not applicable)
        assert pd.isna(flags["reliable_recovery"]) == (not applicable)
        if applicable and flags["reliable_recovery"]:
            assert flags["recovery"] and flags["reliable_improvement"]
        for name in ("reliable_improvement", "reliable_deterioration", "response"):
            assert not pd.isna(flags[name])


@SETTINGS
@given(frame=episodes())
def test_measures_do_not_depend_on_row_order_or_neighbours(frame: pd.DataFrame) -> None:
    together = derive_outcomes(frame["instrument"], frame["baseline"], frame["final"])
    shuffled = frame.iloc[::-1]
    reversed_out = derive_outcomes(shuffled["instrument"], shuffled["baseline"], shuffled["final"])
    pd.testing.assert_frame_equal(together, reversed_out.loc[together.index])
    first = frame.iloc[:1]
    alone = derive_outcomes(first["instrument"], first["baseline"], first["final"])
    pd.testing.assert_frame_equal(alone, together.iloc[:1])


@SETTINGS
@given(frame=episodes())
def test_improvement_and_deterioration_mirror_each_other(frame: pd.DataFrame) -> None:
    finished = frame.dropna(subset=["final"])
    if finished.empty:
        return
    forward = derive_outcomes(finished["instrument"], finished["baseline"], finished["final"])
    backward = derive_outcomes(finished["instrument"], finished["final"], finished["baseline"])
    assert np.array_equal(forward["reliable_improvement"].to_numpy(bool),
                          backward["reliable_deterioration"].to_numpy(bool))
