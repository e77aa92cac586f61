"""The loaded champion bundle, swapped atomically.

A request takes one reference to the current `LoadedBundle` when it starts and uses it to the end; a reload
builds the new bundle completely before replacing that reference, so requests in flight finish on the old one
and no request ever sees half of each. Reloads are serialised by a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from models.bundle import CareAllocBundle

Source = Literal["registry", "cache", "provided"]


@dataclass(frozen=True)
class LoadedBundle:
    bundle: CareAllocBundle
    version: str
    model_name: str
    source: Source
    aliases: tuple[str, ...] = ()
    note: str | None = None
    """Why the bundle is not fresh from the registry (e.g. the registry was unreachable at start-up)."""
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def stale(self) -> bool:
        return self.source == "cache"


Loader = Callable[[], LoadedBundle]


class BundleHolder:
    def __init__(self) -> None:
        self._current: LoadedBundle | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    @property
    def current(self) -> LoadedBundle | None:
        return self._current

    def load(self, loader: Loader) -> tuple[LoadedBundle | None, LoadedBundle]:
        """Run `loader` and install its result; returns (previous, new). The old bundle serves until then."""
        with self._lock:
            new = loader()
            previous, self._current = self._current, new
            self.last_error = None
            return previous, new
