"""The one feature function: leakage-safe by construction, and the same funding code for training and serving."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.build import (
    EPISODE_FEATURES,
    FUNDING_FEATURES,
    HISTORY_FEATURES,
    ProgramPeriods,
    episode_columns,
    episode_features,
    feature_frame,
    funding_features,
    program_history,
    program_period_features,
)


def test_features_have_the_declared_columns_and_index(small_world) -> None:
    _, programs, episodes = small_world
    feats = episode_features(programs, episodes)
    assert tuple(feats.columns) == EPISODE_FEATURES
    assert feats.index.equals(episodes.index)
    assert feats["program_id"].dtype == "category"
    assert feats["baseline_severity"].between(0, 1).all()


def test_later_outcomes_never_reach_earlier_features(small_world) -> None:
    _, programs, episodes = small_world
    periods = sorted(programs["period"].unique())
    cut = periods[3]
    before = episode_features(programs, episodes)
    changed = episodes.copy()
    later_or_same = changed["period"] >= cut
    # Scramble every outcome of the cut period and later ones, including the episodes' own outcomes.
    changed.loc[later_or_same, "final_score"] = np.nan
    changed.loc[later_or_same, "dropped_out"] = ~changed.loc[later_or_same, "dropped_out"]
    changed.loc[later_or_same, "sessions_attended"] = 0
    after = episode_features(programs, changed)
    upto = episodes["period"] <= cut
    pd.testing.assert_frame_equal(before[upto], after[upto])
    # ... and the scrambled outcomes do change the history of the periods after the cut (the test can fail).
    later = episodes["period"] > cut
    assert not before.loc[later, "prior_reliable_improvement_rate"].equals(
        after.loc[later, "prior_reliable_improvement_rate"])


def test_first_period_has_no_history(small_world) -> None:
    _, programs, episodes = small_world
    history = program_history(programs, episodes)
    first = history["period"] == history["period"].min()
    assert history.loc[first, "prior_reliable_improvement_rate"].isna().all()
    assert (history.loc[~first, "prior_periods"] >= 1).all()


def test_row_order_does_not_change_features(small_world) -> None:
    _, programs, episodes = small_world
    feats = episode_features(programs, episodes)
    shuffled = episodes.sample(frac=1.0, random_state=0)
    again = episode_features(programs.sample(frac=1.0, random_state=1).reset_index(drop=True), shuffled)
    pd.testing.assert_frame_equal(feats.loc[shuffled.index].astype(object), again.astype(object))


def test_funding_columns_come_from_the_serving_function(small_world) -> None:
    _, programs, episodes = small_world
    history = program_history(programs, episodes)
    row = history.iloc[-1]
    feats = episode_features(programs, episodes)
    mask = ((episodes["program_id"] == row["program_id"]) & (episodes["period"] == row["period"])).to_numpy()
    direct = funding_features(np.array([row["funding"]]), np.array([row["referrals"]]),
                              np.array([row["prior_mean_funding_per_referral"]]))
    for col in FUNDING_FEATURES:
        assert np.allclose(feats.loc[mask, col], direct[col].iloc[0])
    more = funding_features(np.array([row["funding"] * 2]), np.array([row["referrals"]]),
                            np.array([row["prior_mean_funding_per_referral"]]))
    assert (more[list(FUNDING_FEATURES)].to_numpy() > direct[list(FUNDING_FEATURES)].to_numpy()).all()


def test_program_period_features_give_reach(small_world) -> None:
    _, programs, episodes = small_world
    frame = program_period_features(programs, episodes)
    assert len(frame) == len(programs)
    assert frame["episodes"].sum() == len(episodes)
    assert frame["reach"].between(0, 1).all()
    assert (frame["program_id"].astype(str).to_numpy() == programs["program_id"].to_numpy()).all()


def test_missing_referrals_fall_back_to_busiest_period(small_world) -> None:
    _, programs, episodes = small_world
    history = program_history(programs.drop(columns="referrals"), episodes)
    counts = episodes.groupby("program_id").size()
    assert (history.groupby("program_id")["referrals"].max() <= counts).all()


def test_each_episode_gets_the_row_a_merge_on_programme_period_finds(small_world) -> None:
    """The keyed programme-period table (a dict look-up per episode) against a plain pandas merge."""
    _, programs, episodes = small_world
    history = program_history(programs, episodes)
    feats = episode_features(programs, episodes, history=history)
    merged = episodes[["program_id", "period"]].merge(
        history.merge(programs[["program_id", "period", "modality"]], on=["program_id", "period"]),
        on=["program_id", "period"], how="left", validate="many_to_one")
    for col in HISTORY_FEATURES:
        np.testing.assert_array_equal(feats[col].to_numpy(), merged[col].to_numpy(dtype=float))
    direct = funding_features(merged["funding"], merged["referrals"], merged["prior_mean_funding_per_referral"])
    for col in FUNDING_FEATURES:
        np.testing.assert_array_equal(feats[col].to_numpy(), direct[col].to_numpy())
    assert (feats["modality"].astype(object).to_numpy() == merged["modality"].to_numpy(dtype=object)).all()


def test_episodes_of_unknown_programme_periods_are_refused(small_world) -> None:
    _, programs, episodes = small_world
    stray = episodes.head(3).assign(period="1999-Q1")
    with pytest.raises(KeyError, match="3 episode"):
        episode_features(programs, stray, history=program_history(programs, episodes))


def test_plain_arrays_give_the_frame_features(small_world) -> None:
    """What serving passes (column -> array, None where a field was left out, a column missing altogether)
    gives exactly the features of a frame with the same episodes."""
    _, programs, episodes = small_world
    sample = episodes.head(60).copy()
    sample.loc[sample.index[:5], "region"] = None
    sample.loc[sample.index[5:10], "age"] = None
    history = program_history(programs, episodes)
    expected = episode_features(programs, sample.drop(columns="diagnosis"), history=history)
    arrays = {col: sample[col].to_numpy(dtype=object) for col in sample.columns if col != "diagnosis"}
    columns = episode_columns(arrays, ProgramPeriods.of(programs, history))
    assert tuple(columns) == EPISODE_FEATURES
    pd.testing.assert_frame_equal(feature_frame(columns, sample.index), expected)
    assert all(v is None for v in columns["diagnosis"])
