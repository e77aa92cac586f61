"""The Dask engine: train and score on a cluster with the same features, models and bundle as one machine.

Why it looks like this: episodes are the only large table. Everything the history features need of them is a
sum per programme-period (`features.build.period_outcomes`), so each partition is summed on its worker and the
small totals come back; the one feature function then runs on every partition with that history handed in
(`episode_features(..., history=...)`), never a second implementation. Trees are grown by LightGBM's own
`DaskLGBMClassifier` with the parameters `FundingAwareClassifier.lightgbm_params` gives the single-machine fit,
then `.to_local()` into the project's classifier, so the bundle, SHAP, forecaster and serving do not change.

What comes to the client, all bounded or small by nature: per programme-period sums; category levels; a hashed
sample of at most `dask_sample_rows` episodes for isotonic calibration and for the logistic baseline; about
`2 x COHORT_SIZE` recent episodes per programme for the forecaster's patient mix; and a few columns per held-out
episode (keys, slice labels, targets, forecasts) for the holdout metrics, which are the single-machine
functions applied to them. Rows are assigned to calibration and samples by a hash of `episode_id`, so the split
does not depend on how the data happen to be partitioned.

The one shuffle: the rows the trees are grown on are dealt out across the workers by that hash before LightGBM
sees them (`_dealt`), because LightGBM bins each feature from the rows of one worker (see there).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
from distributed import Client, LocalCluster

from core.settings import Settings
from features.build import (
    CATEGORICAL_FEATURES,
    EPISODE_FEATURES,
    episode_features,
    period_outcomes,
    program_history,
    program_period_features,
)
from features.contract import ContractError, Problem, validate_tables
from features.tables import (
    DataSnapshot,
    file_digest,
    locate_tables,
    part_problems,
    partition_files,
    read_part,
    read_raw,
)
from models.classifier import FundingAwareClassifier
from models.conformal_cells import served_forecast_cells
from models.evaluation import (
    HeldOutForecasts,
    holdout_report,
    interval_report,
    logistic_baseline,
    logistic_input,
    slice_labels,
)
from models.forecast import COHORT_SIZE, Forecaster, build_forecaster
from models.funding_slope import FUNDING_COLUMN, FundingSlope
from models.suite import (
    DIRECTIONS,
    ModelSuite,
    chosen_params,
    episode_share,
    fit_reach,
    funding_slopes,
    targets,
    tree_params,
)

SHARE = "_share"
"""Column with each episode's hashed position in [0, 1): below the calibration fraction = calibration rows."""
TARGETS = {"response": "_response", "dropout": "_dropout"}
OFFSET = "_offset"
"""The funding slope's log-odds per row, LightGBM's initial score (`models.funding_slope`)."""
LOOPBACK_HTTP = {"dashboard_address": "127.0.0.1:0"}
"""The scheduler serves health and metrics over HTTP even without a dashboard: loopback, any free port."""
RAW_CATEGORICALS = ("program_id", "region", "instrument", "sex", "payer", "diagnosis")
"""Episode columns whose values become the categorical features' levels (modality comes from programs)."""
DISTRIBUTED_MONOTONE_METHOD = "basic"
"""LightGBM enforces monotone constraints in distributed learning with its "basic" method only: it swaps
"advanced" (the single-machine fit's) for it with a warning that verbose=-1 hides. Asked for by name, so the
fitted model's own parameters say what grew its trees."""


@contextmanager
def dask_client(settings: Settings) -> Iterator[Client]:
    """A client of the configured scheduler, or of a local cluster listening on loopback only."""
    if settings.dask_scheduler:
        with Client(settings.dask_scheduler) as client:
            yield client
        return
    with LocalCluster(n_workers=settings.dask_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1",
                      scheduler_kwargs=LOOPBACK_HTTP) as cluster, Client(cluster) as client:
        yield client


@dataclass
class PartitionedEpisodes:
    """A validated data folder whose episodes stay on the cluster; only the small parts live here."""

    programs: pd.DataFrame
    raw_programs: pd.DataFrame
    episodes: dd.DataFrame
    outcomes: pd.DataFrame
    snapshot: DataSnapshot

    @classmethod
    def open(cls, folder: Path) -> PartitionedEpisodes:
        """Validate every part on the workers (all problems at once), then sum the per-period outcomes."""
        paths = locate_tables(folder)
        raw_programs = read_raw(paths["programs"])
        episodes_path = paths["episodes"]
        files = partition_files(episodes_path) if episodes_path.is_dir() else [episodes_path]
        found = dask.compute(*[dask.delayed(part_problems)(raw_programs, f, programs_file=str(paths["programs"]))
                               for f in files])
        problems: list[Problem] = []
        for part in found:
            problems += [p for p in part if p not in problems]
        if problems:
            raise ContractError(problems)
        first = read_part(files[0], raw_programs)
        programs = validate_tables(raw_programs, read_raw(files[0]), programs_file=str(paths["programs"]))[0]
        episodes = dd.from_map(read_part, files, programs=raw_programs, meta=first.iloc[:0],
                               enforce_metadata=False)
        repeated = _repeated_episode_ids(episodes)
        if repeated:
            raise ContractError([Problem(str(episodes_path), "episode_id",
                                         f"{repeated} episode_id(s) appear in more than one row across the parts; "
                                         "expected each episode once")])
        outcomes = _summed_outcomes(episodes)
        snapshot = DataSnapshot(sha256=file_digest([paths["programs"], episodes_path]),
                                periods=tuple(sorted(programs["period"].unique())), programs_rows=len(programs),
                                episodes_rows=int(outcomes["n"].sum()))
        return cls(programs, raw_programs, episodes, outcomes, snapshot)


def _repeated_episode_ids(episodes: dd.DataFrame) -> int:
    """How many ids occur more than once across all parts (compared as 64-bit hashes, spread over the workers)."""
    hashes = episodes["episode_id"].map_partitions(
        lambda ids: pd.Series(pd.util.hash_pandas_object(ids.astype(str), index=False).to_numpy()),
        meta=("episode_id", "uint64"))
    counts = hashes.value_counts(split_out=1)  # a tree reduction: no shuffle, 8 bytes per distinct id at the root
    return int((counts > 1).sum().compute())


def _summed_outcomes(episodes: dd.DataFrame) -> pd.DataFrame:
    meta = pd.DataFrame({"program_id": pd.Series(dtype=str), "period": pd.Series(dtype=str),
                         "n": pd.Series(dtype=float), "ri": pd.Series(dtype=float), "dropped": pd.Series(dtype=float)})
    per_part = episodes.map_partitions(period_outcomes, meta=meta)
    return per_part.groupby(["program_id", "period"]).sum(split_out=1).compute().reset_index()


def _category_levels(episodes: dd.DataFrame, programs: pd.DataFrame,
                     outcomes: pd.DataFrame) -> dict[str, list[str]]:
    """The levels each categorical feature takes in these episodes, as the single-machine fit would record."""
    columns = [c for c in RAW_CATEGORICALS if c in episodes.columns]
    per_part = episodes[columns].map_partitions(
        lambda part: pd.DataFrame({c: [set(part[c].dropna().astype(str))] for c in columns}),
        meta={c: object for c in columns}).compute()  # one row of level sets per partition: no shuffle
    levels = {c: sorted(set().union(*per_part[c])) for c in columns}
    seen = outcomes.loc[outcomes["n"] > 0, ["program_id", "period"]]
    pairs = programs.assign(program_id=programs["program_id"].astype(str), period=programs["period"].astype(str))
    levels["modality"] = sorted(set(pairs.merge(seen, on=["program_id", "period"])["modality"].astype(str)))
    return {c: levels.get(c, []) for c in CATEGORICAL_FEATURES}


def _model_frame(part: pd.DataFrame, programs: pd.DataFrame, history: pd.DataFrame,
                 levels: dict[str, list[str]] | None) -> pd.DataFrame:
    """Features (the one feature function), targets, hashed share and period of one partition's episodes."""
    frame = episode_features(programs, part, history=history)
    if levels is not None:
        for col, values in levels.items():
            frame[col] = pd.Categorical(frame[col].astype("object"), categories=values)
    ri, dropped = targets(part)
    frame[TARGETS["response"]] = ri
    frame[TARGETS["dropout"]] = dropped
    frame[SHARE] = episode_share(part["episode_id"])
    frame["period"] = part["period"].astype(str).to_numpy()
    return frame


def _features(episodes: dd.DataFrame, programs: pd.DataFrame, outcomes: pd.DataFrame,
              levels: dict[str, list[str]] | None) -> dd.DataFrame:
    history = program_history(programs, outcomes=outcomes)
    meta = _model_frame(episodes._meta, programs, history, levels)
    return episodes.map_partitions(_model_frame, programs, history, levels, meta=meta)


def _dealt(rows: dd.DataFrame) -> dd.DataFrame:
    """The rows dealt out to the partitions by their hashed episode id, each partition in a fixed row order.

    LightGBM's data-parallel training finds each feature's histogram bins on ONE worker, from the rows that
    worker holds (rank 0 bins the first half of the columns, rank 1 the rest). Parts as written are blocks of
    programmes, so that worker saw only some programmes: the `program_id` levels of the others were left out
    of the bins (their rows shared one "other" bin) and the funding and history bins came from some programmes'
    values; which ones depended on where the scheduler put the parts and on which worker became rank 0, so the
    trees changed from run to run. Dealt out by hash, every worker holds a uniform sample of all episodes and
    finds (nearly) the bins one machine finds from all of them, wherever the parts land.
    """
    dealt = rows.shuffle(on=SHARE, npartitions=rows.npartitions)
    return dealt.map_partitions(lambda part: part.sort_values(SHARE, kind="stable"), meta=rows._meta)


def _fit_classifier(client: Client, frame: dd.DataFrame, name: str, params: dict[str, Any], seed: int,
                    levels: dict[str, list[str]], rows: int, sample_rows: int,
                    slope: FundingSlope | None) -> FundingAwareClassifier:
    """Grow the trees on the cluster from the funding slope's offset, then calibrate on a bounded hashed sample
    of the held-back rows."""
    import lightgbm as lgb

    model = FundingAwareClassifier(funding_direction=DIRECTIONS[name], random_state=seed, **params)
    columns = [*EPISODE_FEATURES, TARGETS[name], SHARE]
    if slope is not None:
        frame = frame.assign(**{OFFSET: frame.map_partitions(lambda part: pd.Series(slope.offset(
            part["program_id"].astype(str).to_numpy(), part["modality"].astype(str).to_numpy(),
            part[FUNDING_COLUMN].to_numpy(dtype=float)), index=part.index),
            meta=(OFFSET, float))})
        columns.append(OFFSET)
    grow = _dealt(frame[frame[SHARE] >= model.calibration_fraction][columns])
    # Threads per worker are LightGBM-Dask's to set (it uses each worker's nthreads), so n_jobs is left out.
    settings = {k: v for k, v in model.lightgbm_params(EPISODE_FEATURES).items() if k != "n_jobs"}
    settings["monotone_constraints_method"] = DISTRIBUTED_MONOTONE_METHOD
    distributed = lgb.DaskLGBMClassifier(client=client, **settings)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Parameter n_jobs will be ignored")  # the sklearn default
        distributed.fit(grow[list(EPISODE_FEATURES)], grow[TARGETS[name]],
                        init_score=None if slope is None else grow[OFFSET])
    model.adopt(distributed.to_local(), EPISODE_FEATURES, levels, slope)
    cut = model.calibration_fraction * min(1.0, sample_rows / max(rows * model.calibration_fraction, 1.0))
    held_back = frame[frame[SHARE] < cut]
    pairs = held_back.map_partitions(
        lambda part: pd.DataFrame({"raw": model.raw_probability(part), "y": part[TARGETS[name]].to_numpy()}),
        meta={"raw": float, "y": float}).compute()
    return model.calibrate(pairs["raw"].to_numpy(), pairs["y"].to_numpy())


def fit_suite_distributed(client: Client, programs: pd.DataFrame, outcomes: pd.DataFrame, episodes: dd.DataFrame,
                          params: dict[str, Any] | None,
                          seed: int, sample_rows: int) -> ModelSuite:
    """`models.suite.fit_suite` on the cluster: same targets, parameters, constraints and reach model."""
    chosen = chosen_params(params)
    levels = _category_levels(episodes, programs, outcomes)
    frame = _features(episodes, programs, outcomes, levels)
    rows = int(outcomes["n"].sum())
    slopes = funding_slopes(programs, outcomes, chosen)
    response, dropout = (_fit_classifier(client, frame, name, tree_params(chosen), seed, levels, rows, sample_rows,
                                         slopes[name]) for name in ("response", "dropout"))
    return ModelSuite(response, dropout, fit_reach(program_period_features(programs, outcomes=outcomes)), chosen)


@dataclass
class DaskEngine:
    """Training engine over a `PartitionedEpisodes` (the interface `training.engines.InMemory` also offers)."""

    client: Client
    data: PartitionedEpisodes
    sample_rows: int

    @property
    def snapshot(self) -> DataSnapshot:
        return self.data.snapshot

    @property
    def programs(self) -> pd.DataFrame:
        return self.data.programs

    @property
    def outcomes(self) -> pd.DataFrame:
        return self.data.outcomes

    def evaluate(self, params: dict[str, Any] | None, seed: int, holdout_periods: int = 2) -> dict[str, Any]:
        """`models.evaluation.evaluate_holdout` on the cluster: fit on earlier periods, report on the last ones."""
        programs, outcomes, episodes = self.data.programs, self.data.outcomes, self.data.episodes
        periods = sorted(programs["period"].unique())
        if len(periods) <= holdout_periods + 1:
            raise ValueError(f"need more than {holdout_periods + 1} periods for a temporal holdout; "
                             f"found {len(periods)}")
        test_periods = tuple(periods[-holdout_periods:])
        train_programs = programs[~programs["period"].isin(test_periods)].reset_index(drop=True)
        train_outcomes = outcomes[~outcomes["period"].isin(test_periods)].reset_index(drop=True)
        train_episodes = episodes[~episodes["period"].isin(list(test_periods))]
        suite = fit_suite_distributed(self.client, train_programs, train_outcomes, train_episodes,
                                      params, seed, self.sample_rows)

        rows = float(train_outcomes["n"].sum())
        keep = min(1.0, self.sample_rows / max(rows, 1.0))
        train_frame = _features(train_episodes, train_programs, train_outcomes, None)
        sample = train_frame[train_frame[SHARE] >= 1.0 - keep].compute()
        baselines = {name: logistic_baseline(logistic_input(sample), sample[col].to_numpy())
                     for name, col in TARGETS.items()}
        test_frame = _features(episodes[episodes["period"].isin(list(test_periods))], programs, outcomes, None)
        collected = test_frame.map_partitions(_holdout_columns, suite, baselines,
                                              meta=_holdout_columns(test_frame._meta, suite, baselines)).compute()
        held = HeldOutForecasts(
            keys=collected[["program_id", "period"]],
            slices=collected[list(slice_labels(test_frame._meta).columns)],
            outcomes={name: collected[f"y_{name}"].to_numpy() for name in TARGETS},
            forecasts={name: collected[f"p_{name}"].to_numpy() for name in TARGETS},
            logistic={name: collected[f"lr_{name}"].to_numpy() for name in TARGETS},
            prior_rates={"response": float(train_outcomes["ri"].sum() / rows),
                         "dropout": float(train_outcomes["dropped"].sum() / rows)},
        )
        report = holdout_report(held, suite.reach, program_period_features(programs, outcomes=outcomes),
                                test_periods)
        # The interval cells need each test period's two earlier periods of patient mix: a per-programme sample.
        periods_before = [p for p in periods[-holdout_periods - 2:] if p != periods[-1]]
        sample = self._recent_sample(periods_before)
        cells = served_forecast_cells(suite, programs, sample, outcomes, test_periods, seed)
        return report | interval_report(cells, programs, outcomes)

    def _recent_sample(self, periods: list[str]) -> pd.DataFrame:
        """About 2 x COHORT_SIZE episodes per programme from `periods`, picked by hashed id (reproducible)."""
        data = self.data
        recent = data.outcomes[data.outcomes["period"].isin(periods)].groupby("program_id")["n"].sum()
        share = (len(periods) * COHORT_SIZE / recent.clip(lower=1.0)).clip(upper=1.0).to_dict()
        episodes = data.episodes[data.episodes["period"].isin(periods)]
        return episodes.map_partitions(_cohort_sample, share, meta=episodes._meta).compute().reset_index(drop=True)

    def fit(self, params: dict[str, Any] | None, seed: int) -> tuple[ModelSuite, Forecaster]:
        """Fit on all periods; the forecaster's patient mix comes from a per-programme sample of recent episodes."""
        data = self.data
        suite = fit_suite_distributed(self.client, data.programs, data.outcomes, data.episodes, params, seed,
                                      self.sample_rows)
        periods = sorted(data.programs["period"].unique())
        sample = self._recent_sample(periods[-2:])
        forecaster = build_forecaster(data.programs, sample, suite.response, suite.dropout,
                                      suite.reach, seed=seed, outcomes=data.outcomes)
        return suite, forecaster


def _cohort_sample(part: pd.DataFrame, share: dict[str, float]) -> pd.DataFrame:
    """Each programme's episodes kept with its own probability (about 2 x COHORT_SIZE per programme in all)."""
    keep = episode_share(part["episode_id"]) < part["program_id"].astype(str).map(share).fillna(0.0).to_numpy()
    return part[keep]


def _holdout_columns(frame: pd.DataFrame, suite: ModelSuite, baselines: dict[str, Any]) -> pd.DataFrame:
    """The few columns per held-out episode that `holdout_report` needs."""
    features = frame[list(EPISODE_FEATURES)]
    out = slice_labels(features)
    out.insert(0, "program_id", frame["program_id"].astype(str).to_numpy())
    out.insert(1, "period", frame["period"].to_numpy())
    as_lr = logistic_input(features)
    for name, model in (("response", suite.response), ("dropout", suite.dropout)):
        out[f"y_{name}"] = frame[TARGETS[name]].to_numpy()
        out[f"p_{name}"] = model.predict_proba(features)[:, 1] if len(frame) else np.empty(0)
        out[f"lr_{name}"] = baselines[name].predict_proba(as_lr)[:, 1] if len(frame) else np.empty(0)
    return out
