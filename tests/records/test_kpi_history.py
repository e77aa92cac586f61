"""The KPI history on SQLite and on PostgreSQL: idempotent loads, refused conflicts, corrections that keep the old."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.kpi import programme_kpis
from records.kpi_history import KpiHistory, PeriodConflictError
from tests.postgres import needs_postgres


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=[needs_postgres, pytest.mark.slow])])
def history(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KpiHistory]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'outcomes.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = KpiHistory(url)
    yield store
    from records.kpi_history import METADATA

    METADATA.drop_all(store.engine)  # the PostgreSQL database is shared by the module's tests
    store.close()


@pytest.fixture
def quarters(small_world: tuple) -> dict[str, pd.DataFrame]:
    _, programs, episodes = small_world
    kpis = programme_kpis(programs, episodes)
    return {period: frame.reset_index(drop=True) for period, frame in kpis.groupby("period")}


def test_loading_the_same_period_twice_changes_nothing(history: KpiHistory, quarters: dict) -> None:
    first, *_ = sorted(quarters)
    report = history.load(quarters[first], source="q1.csv")
    assert report.load_id is not None and report.added == len(quarters[first]) and report.replaced == 0
    before = history.values()
    again = history.load(quarters[first], source="q1 again")
    assert again.load_id is None and again.added == 0 and again.unchanged == len(quarters[first])
    assert len(history.loads()) == 1
    pd.testing.assert_frame_equal(history.values(), before)


def test_figures_round_trip_with_undefined_ones_as_nan(history: KpiHistory, quarters: dict) -> None:
    period = sorted(quarters)[0]
    history.load(quarters[period], source="q")
    stored = history.values().set_index(["program_id", "period", "kpi"]).sort_index()
    given = quarters[period].set_index(["program_id", "period", "kpi"]).sort_index()
    finite = np.isfinite(given["upper"].to_numpy())
    np.testing.assert_allclose(stored["upper"].to_numpy()[finite], given["upper"].to_numpy()[finite], rtol=1e-12)
    assert stored["upper"].isna().to_numpy()[~finite].all()  # unbounded / undefined -> NULL -> NaN
    assert (stored["n"].to_numpy() == given["n"].to_numpy()).all()


def test_different_figures_are_refused_by_name_and_nothing_is_written(history: KpiHistory, quarters: dict) -> None:
    period = sorted(quarters)[0]
    history.load(quarters[period], source="q")
    before = history.values()
    changed = quarters[period].copy()
    row = changed.index[(changed.kpi == "dropout_rate") & (changed.program_id == "P003")][0]
    changed.loc[row, "value"] = 0.99
    extra = changed.iloc[:1].assign(period="2099-Q1")  # a new period in the same file: not written either
    with pytest.raises(PeriodConflictError) as refused:
        history.load(pd.concat([changed, extra], ignore_index=True), source="q fixed")
    assert f"programme P003, period {period}, dropout_rate value" in str(refused.value)
    assert "0.99" in str(refused.value)
    pd.testing.assert_frame_equal(history.values(), before)
    assert len(history.loads()) == 1


def test_a_correction_replaces_and_the_history_keeps_the_old_figures(history: KpiHistory, quarters: dict) -> None:
    period = sorted(quarters)[0]
    history.load(quarters[period], source="q")
    old = history.values(program_id="P003", kpi="dropout_rate").iloc[0]
    changed = quarters[period].copy()
    changed.loc[(changed.kpi == "dropout_rate") & (changed.program_id == "P003"), "value"] = 0.99
    report = history.load(changed, source="q corrected", correction=True)
    assert report.replaced == 1 and report.added == 0
    assert history.values(program_id="P003", kpi="dropout_rate").iloc[0]["value"] == pytest.approx(0.99)
    kept = history.replaced().iloc[0]
    assert kept["value"] == pytest.approx(old["value"]) and kept["replaced_by"] == report.load_id
    loads = history.loads()
    assert list(loads["replaced"]) == [0, 1] and loads["source"].iloc[-1] == "q corrected"


def test_new_and_missing_programmes_are_named(history: KpiHistory, quarters: dict) -> None:
    first, second = sorted(quarters)[:2]
    history.load(quarters[first], source="q1")
    later = quarters[second]
    later = pd.concat([later[later.program_id != "P002"], later[later.program_id == "P001"].assign(program_id="P900")])
    report = history.load(later, source="q2")
    assert report.new_programmes == ("P900",) and report.missing_programmes == ("P002",)


def test_unknown_kpi_names_are_refused(history: KpiHistory, quarters: dict) -> None:
    bad = quarters[sorted(quarters)[0]].assign(kpi="happiness")
    with pytest.raises(ValueError, match="unknown KPI name"):
        history.load(bad, source="q")
    assert history.values().empty
