"""Batch risk scoring of a whole population: every episode's dropout and non-response risk, written as Parquet.

The same `CareAllocBundle.risk` that answers a clinician's request scores each partition, so a batch score and
an online score of the same episode agree. The output holds episode_id, program_id and period as keys and the
two risks, never patient_id or clinical columns: the data owner joins them back where the records live.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.settings import Settings
from models.bundle import CareAllocBundle

RISK_COLUMNS = ("episode_id", "program_id", "period", "dropout_risk", "non_response_risk")


class ScoringError(ValueError):
    """Input the scoring job cannot use, said in words (the CLI prints it without a traceback)."""


def risk_table(episodes: pd.DataFrame, bundle: CareAllocBundle) -> pd.DataFrame:
    """Keys and risks of one partition of contract-form episodes."""
    if episodes.empty:
        return pd.DataFrame({c: pd.Series(dtype=float if c.endswith("risk") else str) for c in RISK_COLUMNS})
    risk = bundle.risk(episodes)
    out = episodes[["episode_id", "program_id", "period"]].astype(str).reset_index(drop=True)
    out["dropout_risk"] = risk["dropout_risk"].to_numpy()
    out["non_response_risk"] = risk["non_response_risk"].to_numpy()
    return out


def _check_output(out_dir: Path) -> None:
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ScoringError(f"{out_dir} already exists and is not an empty folder; choose a new output folder "
                           "(scoring never overwrites)")


def _check_programmes(program_ids: set[str], bundle: CareAllocBundle) -> None:
    unknown = sorted(program_ids - set(bundle.programs))
    if unknown:
        raise ScoringError(f"the model has no history for programme(s) {', '.join(unknown[:10])}"
                           f"{' ...' if len(unknown) > 10 else ''}; it knows {', '.join(sorted(bundle.programs))}")


def score_population(data_dir: Path, out_dir: Path, bundle: CareAllocBundle, settings: Settings) -> int:
    """Score every episode in `data_dir` (validated first) into `out_dir`/*.parquet; returns the episodes scored."""
    _check_output(out_dir)
    bundle.limit_threads(1)
    if settings.engine == "local":
        from features.tables import load_tables

        tables = load_tables(data_dir)
        _check_programmes(set(tables.episodes["program_id"].astype(str)), bundle)
        out_dir.mkdir(parents=True, exist_ok=True)
        scored = risk_table(tables.episodes, bundle)
        scored.to_parquet(out_dir / "part-00000.parquet", index=False)
        return len(scored)

    from training.distributed import PartitionedEpisodes, dask_client

    with dask_client(settings):
        data = PartitionedEpisodes.open(data_dir)
        _check_programmes(set(data.outcomes["program_id"].astype(str)), bundle)
        meta = risk_table(data.episodes._meta, bundle)
        data.episodes.map_partitions(risk_table, bundle, meta=meta).to_parquet(out_dir, write_index=False)
        return data.snapshot.episodes_rows
