"""Recommendation requests an allocator saved under a name, to run again next week or to hand to a colleague.

A saved scenario is the request exactly as POST /v1/recommendations takes it (budget, constraints, objective),
kept as JSON beside its name, the key id that saved it and whether other keys may see it. It holds no answer:
loading one reruns it with the model loaded then. Only aggregates: a request names programmes and groups, never
a patient.

Visibility is decided here, once: a key sees its own scenarios and the shared ones of others, and only the owner
may change or delete one. A scenario another key cannot see does not exist for it (KeyError, a 404 over HTTP).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

METADATA = MetaData()
SAVED_SCENARIOS = Table(
    "saved_scenarios", METADATA,
    Column("scenario_id", String(36), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("shared", Boolean, nullable=False, default=False),
    Column("saved_at", String(32), nullable=False),
    Column("request", Text, nullable=False),
)


class SavedScenarioLimitError(Exception):
    """The key already holds as many saved scenarios as the deployment allows."""

    def __init__(self, limit: int):
        super().__init__(f"a key may keep at most {limit} saved scenarios")
        self.limit = limit


class NotOwnerError(Exception):
    """The scenario is visible to this key (shared) but belongs to another one."""


@dataclass(frozen=True)
class SavedScenario:
    scenario_id: str
    owner: str
    name: str
    shared: bool
    saved_at: str
    request: dict[str, Any]


_SUMMARY = (SAVED_SCENARIOS.c.scenario_id, SAVED_SCENARIOS.c.owner, SAVED_SCENARIOS.c.name,
            SAVED_SCENARIOS.c.shared, SAVED_SCENARIOS.c.saved_at)


def _visible_to(viewer: str) -> Any:
    return or_(SAVED_SCENARIOS.c.owner == viewer, SAVED_SCENARIOS.c.shared.is_(True))


class SavedScenarioStore:
    def __init__(self, url: str):
        self.engine: Engine = create_engine(url)
        METADATA.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def save(self, owner: str, name: str, request: dict[str, Any], *, shared: bool, limit: int) -> SavedScenario:
        """Store a new scenario for `owner`; SavedScenarioLimitError when the key already holds `limit`.

        The count and the insert share one transaction, so the limit holds for one writer at a time (SQLite
        serialises writers; two concurrent saves on another database can overshoot it by one)."""
        scenario = SavedScenario(str(uuid.uuid4()), owner[:64], name, shared,
                                 datetime.now(UTC).isoformat(timespec="microseconds"), request)
        with self.engine.begin() as connection:
            held = connection.execute(select(func.count()).select_from(SAVED_SCENARIOS)
                                      .where(SAVED_SCENARIOS.c.owner == scenario.owner)).scalar_one()
            if held >= limit:
                raise SavedScenarioLimitError(limit)
            connection.execute(insert(SAVED_SCENARIOS).values(
                scenario_id=scenario.scenario_id, owner=scenario.owner, name=name, shared=shared,
                saved_at=scenario.saved_at, request=json.dumps(request, sort_keys=True, default=str)))
        return scenario

    def listing(self, viewer: str) -> list[SavedScenario]:
        """The viewer's own scenarios and the shared ones, newest first, without their requests (empty dicts)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(*_SUMMARY).where(_visible_to(viewer))
                                      .order_by(SAVED_SCENARIOS.c.saved_at.desc())).mappings().all()
        return [SavedScenario(**row, request={}) for row in rows]

    def get(self, scenario_id: str, viewer: str) -> SavedScenario:
        """KeyError when there is no such scenario or it is another key's and not shared."""
        with self.engine.connect() as connection:
            row = connection.execute(select(SAVED_SCENARIOS).where(
                SAVED_SCENARIOS.c.scenario_id == scenario_id, _visible_to(viewer))).mappings().first()
        if row is None:
            raise KeyError(f"no saved scenario with id {scenario_id}")
        return SavedScenario(**{**row, "request": json.loads(row["request"])})

    def _owned(self, scenario_id: str, owner: str) -> None:
        """KeyError when `owner` cannot see it, NotOwnerError when it is shared by someone else."""
        if self.get(scenario_id, owner).owner != owner:
            raise NotOwnerError(scenario_id)

    def set_shared(self, scenario_id: str, owner: str, shared: bool) -> SavedScenario:
        self._owned(scenario_id, owner)
        with self.engine.begin() as connection:
            connection.execute(update(SAVED_SCENARIOS).where(SAVED_SCENARIOS.c.scenario_id == scenario_id)
                               .values(shared=shared))
        return self.get(scenario_id, owner)

    def delete(self, scenario_id: str, owner: str) -> None:
        self._owned(scenario_id, owner)
        with self.engine.begin() as connection:
            connection.execute(delete(SAVED_SCENARIOS).where(SAVED_SCENARIOS.c.scenario_id == scenario_id,
                                                             SAVED_SCENARIOS.c.owner == owner))
