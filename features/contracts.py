"""Value-based payer contracts as data: who is measured, on what, the targets, the money, and how a period's
episodes score against them.

A contract pays on one metric of a measured population (e.g. PHQ-9 >= 10 at intake, intention to treat): bonus tiers
above the target (a lump sum per tier reached, or an amount per point above the tier), a penalty below a floor,
nothing when fewer than `min_sample` episodes were measured (the usual small-numbers rule of MIPS-style contracts).
The file is JSON (`{"contracts": [...]}`, the same shape as the HTTP body); every inconsistency is refused naming
the contract and the field, all at once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.identifiers import Identifier, safe_identifier
from features.instruments import INSTRUMENTS
from features.outcomes import derive_outcomes

Metric = Literal["reliable_improvement", "response", "remission", "recovery", "retention", "satisfaction"]
RATE_METRICS = ("reliable_improvement", "response", "remission", "recovery", "retention")
Amount = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]


class Population(BaseModel):
    """Which episodes a contract measures."""

    model_config = ConfigDict(extra="forbid")
    payer: Identifier | None = Field(None, description="Episodes of this payer only; default every payer.")
    instrument: str | None = Field(None, description="Episodes measured on this instrument only.")
    min_baseline: float | None = Field(None, allow_inf_nan=False,
                                       description="Intake score at least this (on `instrument`'s scale).")
    programs: list[Identifier] | None = Field(None, max_length=10_000,
                                              description="Programmes whose episodes count; default all.")
    basis: Literal["itt", "completed"] = Field(
        "itt", description="itt: every episode that started (no final score = not improved); completed: episodes "
        "with a final score and no dropout.")

    @model_validator(mode="after")
    def _instrument(self) -> Population:
        if self.instrument is not None and self.instrument not in INSTRUMENTS:
            raise ValueError(f"instrument must be one of {sorted(INSTRUMENTS)}, got {self.instrument!r}")
        if self.min_baseline is not None and self.instrument is None:
            raise ValueError("min_baseline needs an instrument (a score threshold means nothing across scales)")
        if self.min_baseline is not None and self.instrument is not None:
            inst = INSTRUMENTS[self.instrument]
            if not inst.min_score <= self.min_baseline <= inst.max_score:
                raise ValueError(f"min_baseline must lie on {self.instrument}'s scale "
                                 f"({inst.min_score:g}-{inst.max_score:g}), got {self.min_baseline:g}")
        return self


class Tier(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float = Field(allow_inf_nan=False, description="Metric value that reaches the tier.")
    lump_sum: Amount = 0.0
    per_point: Amount = Field(0.0, description="Paid per percentage point (or satisfaction point) above the tier's "
                                               "threshold, up to the next tier's.")


class Penalty(BaseModel):
    model_config = ConfigDict(extra="forbid")
    below: float = Field(allow_inf_nan=False, description="Metric value under which the penalty applies.")
    lump_sum: Amount = 0.0
    per_point: Amount = Field(0.0, description="Charged per point below `below`.")


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contract_id: Identifier
    payer: str = Field(min_length=1, max_length=200, description="Who pays (shown in reports).")
    population: Population = Field(default_factory=Population)
    metric: Metric
    target: float = Field(allow_inf_nan=False, description="The contract's headline target (the first tier's "
                                                           "threshold when tiers are given without it).")
    tiers: list[Tier] = Field(default_factory=list, max_length=20)
    penalty: Penalty | None = None
    min_sample: int = Field(30, ge=1, le=10_000_000)
    period: Literal["quarter", "year"] = "quarter"

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        low, high = (0.0, 10.0) if self.metric == "satisfaction" else (0.0, 1.0)
        unit = "a 0-10 score" if self.metric == "satisfaction" else "a rate between 0 and 1"
        values = [("target", self.target)] + [(f"tiers[{i}].threshold", t.threshold) for i, t in enumerate(self.tiers)]
        if self.penalty is not None:
            values.append(("penalty.below", self.penalty.below))
        problems = [f"{name} must be {unit}, got {value:g}" for name, value in values if not low <= value <= high]
        thresholds = [t.threshold for t in self.tiers]
        problems += [f"tiers[{i}].threshold must be above tiers[{i - 1}].threshold ({thresholds[i - 1]:g}), "
                     f"got {thresholds[i]:g}" for i in range(1, len(thresholds)) if thresholds[i] <= thresholds[i - 1]]
        if thresholds and self.target > thresholds[0]:
            problems.append(f"target ({self.target:g}) must not be above tiers[0].threshold ({thresholds[0]:g})")
        if self.penalty is not None and self.penalty.below > self.target:
            problems.append(f"penalty.below ({self.penalty.below:g}) must not be above the target ({self.target:g})")
        if not self.tiers and self.penalty is None:
            problems.append("a contract needs tiers or a penalty (otherwise no money depends on it)")
        if self.metric == "recovery" and self.population.instrument is not None \
                and INSTRUMENTS[self.population.instrument].caseness is None:
            problems.append(f"recovery is undefined on {self.population.instrument} (no caseness cut-off)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def payment(self, value: float, n: int) -> float:
        """What the contract pays (negative: charges) for a measured metric `value` over `n` episodes."""
        if n < self.min_sample or not np.isfinite(value):
            return 0.0
        scale = 1.0 if self.metric == "satisfaction" else 100.0  # rates pay per percentage point
        paid = 0.0
        for i, tier in enumerate(self.tiers):
            if value < tier.threshold:
                break
            top = self.tiers[i + 1].threshold if i + 1 < len(self.tiers) else np.inf
            paid += tier.lump_sum + tier.per_point * (min(value, top) - tier.threshold) * scale
        if self.penalty is not None and value < self.penalty.below:
            paid -= self.penalty.lump_sum + self.penalty.per_point * (self.penalty.below - value) * scale
        return float(paid)


class ContractSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contracts: list[Contract] = Field(min_length=1, max_length=1_000)

    @model_validator(mode="after")
    def _unique(self) -> ContractSet:
        ids = [c.contract_id for c in self.contracts]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"contract_id must be unique; repeated: {', '.join(duplicates)}")
        return self


class ContractsError(ValueError):
    """Every problem of a contracts file or body, each naming the contract and the field."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "\n".join(problems))


def contract_problems(raw: object, error: ValidationError) -> list[str]:
    """Pydantic's errors as `contract 'ID' field.path: message` lines (the position when a contract has no id)."""
    contracts = raw.get("contracts") if isinstance(raw, dict) else None
    lines = []
    for item in error.errors():
        loc = list(item["loc"])
        where = _path(loc)
        if len(loc) >= 2 and loc[0] == "contracts" and isinstance(loc[1], int):
            entry = contracts[loc[1]] if isinstance(contracts, list) and loc[1] < len(contracts) else None
            name = entry.get("contract_id") if isinstance(entry, dict) else None
            label = f"contract {name!r}" if _nameable(name) else f"contracts[{loc[1]}]"
            where = label + (" " + _path(loc[2:]) if loc[2:] else "")
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {message}" if where else message)
    return lines


def _nameable(name: object) -> bool:
    """An id that may be repeated back in a message: a valid identifier, not just any text a client sent."""
    if not isinstance(name, str) or not 0 < len(name) <= 100:
        return False
    try:
        safe_identifier(name)
    except ValueError:
        return False
    return True


def _path(loc: list[int | str]) -> str:
    """('tiers', 0, 'lump_sum') -> 'tiers[0].lump_sum', as the file's reader would write it."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def parse_contracts(raw: object, source: str = "contracts") -> ContractSet:
    try:
        return ContractSet.model_validate(raw)
    except ValidationError as exc:
        raise ContractsError(source, contract_problems(raw, exc)) from None


def load_contracts(path: str | Path) -> ContractSet:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ContractsError(str(path), [f"cannot read the file: {exc}"]) from None
    except json.JSONDecodeError as exc:
        raise ContractsError(str(path), [f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"]) \
            from None
    return parse_contracts(raw, str(path))


CONTRACTS_FILE = "contracts.json"
"""The department's contracts in its data folder, beside programs.* and episodes.*."""


def folder_contracts(folder: str | Path) -> ContractSet | None:
    """The contracts of a data folder, None when it holds none; ContractsError when they are invalid."""
    path = Path(folder) / CONTRACTS_FILE
    return load_contracts(path) if path.is_file() else None


def measured(contract: Contract, episodes: pd.DataFrame) -> pd.DataFrame:
    """The contract's metric per period over its measured population: period, value, n (episodes measured)."""
    return measure(contract.population, contract.metric, episodes)


def measure(population: Population, metric: Metric, episodes: pd.DataFrame) -> pd.DataFrame:
    """`metric` per period over `population`'s episodes: period, value, n (episodes measured)."""
    rows = np.ones(len(episodes), dtype=bool)
    if population.payer is not None:
        rows &= (episodes["payer"].astype("string") == population.payer).fillna(False).to_numpy(dtype=bool)
    if population.instrument is not None:
        rows &= (episodes["instrument"].astype(str) == population.instrument).to_numpy()
    if population.min_baseline is not None:
        rows &= episodes["baseline_score"].to_numpy(dtype=float) >= population.min_baseline
    if population.programs is not None:
        rows &= episodes["program_id"].astype(str).isin(population.programs).to_numpy()
    chosen = episodes[rows]
    flags = derive_outcomes(chosen["instrument"], chosen["baseline_score"], chosen["final_score"])
    dropped = chosen["dropped_out"].fillna(False).to_numpy(dtype=bool)
    has_final = chosen["final_score"].notna().to_numpy()
    counted = np.ones(len(chosen), dtype=bool) if population.basis == "itt" else has_final & ~dropped
    if metric == "retention":
        value = (~dropped).astype(float)
    elif metric == "satisfaction":
        value = chosen["satisfaction"].to_numpy(dtype=float, na_value=np.nan) if "satisfaction" in chosen \
            else np.full(len(chosen), np.nan)
        counted &= ~np.isnan(value)
    else:
        flag = flags[metric]
        counted &= flag.notna().to_numpy()
        value = flag.fillna(False).to_numpy(dtype=float)
    frame = pd.DataFrame({"period": chosen["period"].astype(str).to_numpy()[counted], "value": value[counted]})
    out = frame.groupby("period")["value"].agg(value="mean", n="size").reset_index()
    out["n"] = out["n"].astype(np.int64)
    return out
