"""Batch scoring on one machine: every episode scored with the bundle's own risk, keys only, never overwriting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from core.settings import Settings
from features.tables import load_tables
from training.scoring import ScoringError, score_population


def test_local_scoring_writes_every_episode_with_the_bundles_risk(world_dir: Path, tmp_path: Path,
                                                                  trained: Any) -> None:
    bundle = trained[2]
    out = tmp_path / "risk"
    rows = score_population(world_dir, out, bundle, Settings(engine="local", data_dir=tmp_path))
    episodes = load_tables(world_dir).episodes
    risk = pd.read_parquet(out)
    assert rows == len(risk) == len(episodes)
    assert list(risk.columns) == ["episode_id", "program_id", "period", "dropout_risk", "non_response_risk"]
    expected = bundle.risk(episodes.head(50))
    np.testing.assert_allclose(risk["dropout_risk"].head(50), expected["dropout_risk"])
    with pytest.raises(ScoringError, match="never overwrites"):
        score_population(world_dir, out, bundle, Settings(engine="local", data_dir=tmp_path))
