"""The department's data folder (CAREALLOC_REVIEW_DATA_DIR) as reports and recommendations read it: its episodes,
where each payer contract's population is found, and its contracts.json, used when a request brings no contracts.

A request that needs contracts and the service cannot measure them on is refused with a problem saying what is
missing: 409 when the service lacks the folder or its episodes (the client cannot fix that), 422 when the request
asks for the money objective without any contracts to count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from features.contract import ContractError
from features.contracts import CONTRACTS_FILE, ContractsError, ContractSet, folder_contracts
from features.tables import SUFFIXES, load_tables
from serving.problems import ProblemError
from serving.settings import ServiceSettings

CONFIGURE = ("set CAREALLOC_REVIEW_DATA_DIR to the department's data folder (programs.* and episodes.*, as "
             "`carealloc review --data` reads), or use `carealloc report --data DIR --contracts FILE`")


@dataclass(frozen=True)
class ContractData:
    contracts: ContractSet
    episodes: pd.DataFrame
    source: str
    """Where the contracts came from: "request" or the data folder's contracts.json."""


def contract_data(settings: ServiceSettings, given: ContractSet | None, *, required: bool) -> ContractData | None:
    """The request's contracts (else the folder's) with the folder's episodes; None when there are no contracts
    and none are `required`. Reads the folder: call it off the event loop."""
    folder = settings.review_data_dir
    if folder is None:
        if given is None and not required:
            return None
        raise ProblemError(409, "department-data-not-configured",
                           "payer contracts are measured on the department's episodes (each contract's population "
                           "is found in them) and the service has no data folder: " + CONFIGURE)
    try:
        contracts = given if given is not None else folder_contracts(folder)
    except ContractsError as exc:
        raise ProblemError(409, "invalid-department-contracts",
                           f"the data folder's {CONTRACTS_FILE} is invalid: " + "; ".join(exc.problems),
                           errors=[{"field": CONTRACTS_FILE, "message": p, "type": "contract"}
                                   for p in exc.problems[:20]]) from None
    if contracts is None:
        if not required:
            return None
        raise ProblemError(422, "contracts-missing", "objective kind 'money' counts payer contracts' payments: give "
                           f"body.contracts, or put {CONTRACTS_FILE} in the service's data folder",
                           errors=[{"field": "body.contracts", "message": "required by objective kind 'money'",
                                    "type": "missing"}])
    if not _has_episodes(Path(folder)):
        raise ProblemError(409, "department-episodes-missing",
                           "the service's data folder holds no episodes (episodes.csv, episodes.parquet or "
                           "episodes/): the contracts' populations cannot be found; " + CONFIGURE)
    try:
        tables = load_tables(folder)
    except ContractError as exc:
        raise ProblemError(409, "invalid-department-data", f"the data folder breaks the input contract in "
                           f"{len(exc.problems)} way(s); see errors",
                           errors=[{"field": problem.column or "file", "message": str(problem), "type": "contract"}
                                   for problem in exc.problems[:20]]) from exc
    return ContractData(contracts, tables.episodes, "request" if given is not None else CONTRACTS_FILE)


def _has_episodes(folder: Path) -> bool:
    return (folder / "episodes").is_dir() or any((folder / f"episodes{s}").is_file() for s in SUFFIXES)
