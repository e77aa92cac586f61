"""Shared fixtures: small seeded synthetic worlds built on the fly (no data files are committed)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from synthetic.plan import WorldPlan, build_plan
from synthetic.simulate import simulate_episodes

pytest_plugins = ["tests.postgres"]  # the `postgres_url` fixture, for tests that need a real database


def write_csv_world(folder: Path, episodes: int, seed: int) -> Path:
    """A mental-health world of about `episodes` episodes written as CSV tables, for tests that train from a folder."""
    from features.tables import write_tables

    programs, frame = simulate_episodes(build_plan("mental-health", episodes, seed=seed))
    write_tables(folder, programs, frame, "csv")
    return folder


@pytest.fixture(scope="session")
def small_world() -> tuple[WorldPlan, pd.DataFrame, pd.DataFrame]:
    plan = build_plan("mental-health", 6_000, seed=11)
    programs, episodes = simulate_episodes(plan)
    return plan, programs, episodes


@pytest.fixture
def world_dir(tmp_path: Path, small_world: tuple[WorldPlan, pd.DataFrame, pd.DataFrame]) -> Path:
    from features.tables import write_tables
    from synthetic.truth import Truth

    plan, programs, episodes = small_world
    write_tables(tmp_path, programs, episodes, "csv")
    Truth(plan).save(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def trained(small_world):
    """A model suite, forecaster and bundle fitted once on the small world (tests must not refit needlessly)."""
    from models.bundle import make_bundle
    from models.forecast import build_forecaster
    from models.suite import fit_suite

    _, programs, episodes = small_world
    params = {"n_estimators": 80, "learning_rate": 0.08, "num_leaves": 15, "min_child_samples": 40}
    suite = fit_suite(programs, episodes, params, seed=0)
    forecaster = build_forecaster(programs, episodes, suite.response, suite.dropout, suite.reach)
    bundle = make_bundle(forecaster, suite, programs, episodes)
    return suite, forecaster, bundle


@pytest.fixture(scope="session", autouse=True)
def no_patient_data_left_behind(tmp_path_factory: pytest.TempPathFactory):
    """After the whole run: no patient identifier in anything the service logged or audited (every audit store
    the tests created is read back). tests/hardening/test_privacy_scan.py covers /metrics and error answers."""
    import logging

    from serving.logs import LOGGER
    from tests.hardening.privacy import SESSION_MARKERS, Recorder, audit_text, findings

    recorder, logger = Recorder(), logging.getLogger(LOGGER)
    level = logger.level
    logger.addHandler(recorder)
    logger.setLevel(logging.DEBUG)
    yield
    logger.removeHandler(recorder)
    logger.setLevel(level)
    for place, text in (("service logs", recorder.text()),
                        ("audit rows", audit_text([tmp_path_factory.getbasetemp()]))):
        assert findings(text, SESSION_MARKERS) == [], f"patient data in {place}"
