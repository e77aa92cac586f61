"""What counts as patient data in a scan of logs, metrics and audit rows (used by the privacy tests)."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from serving.logs import JsonFormatter

WORLD_PATIENT_ID = re.compile(r"\bPT\d+\b")
"""Patient ids of the synthetic worlds (synthetic/simulate.py)."""
SESSION_MARKERS = ("PT-MARKER", "EP-MARKER", "PT-SECRET", "PT88990011", "EPMARK", "1931-07-14")
"""Identifiers and dates the serving and hardening tests send on purpose to see that they are never kept."""


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        """Each record as written (JSON line) and with every attribute, whitelisted or not."""
        formatter = JsonFormatter()
        return "\n".join(formatter.format(r) + json.dumps(r.__dict__, default=str) for r in self.records)


def audit_text(roots: Iterable[Path]) -> str:
    """Every row of every SQLite audit store under `roots`, as text."""
    rows: list[str] = []
    for root in roots:
        for path in sorted(root.rglob("audit.db")):
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                try:
                    rows.extend(repr(row) for row in conn.execute("SELECT * FROM audit_log"))
                except sqlite3.DatabaseError:  # a store a fault test broke on purpose (dropped table, locked)
                    continue
    return "\n".join(rows)


def findings(text: str, markers: Iterable[str]) -> list[str]:
    found = [m for m in markers if m in text]
    found += sorted(set(WORLD_PATIENT_ID.findall(text)))[:10]
    return found
