"""The loaded champion bundle, swapped atomically.

A request takes one reference to the current `LoadedBundle` when it starts and uses it to the end; a reload
builds the new bundle completely before replacing that reference, so requests in flight finish on the old one
and no request ever sees half of each. Reloads are serialised by a lock.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from allocation import OutcomeCurve, compile_kernels
from models.bundle import CareAllocBundle
from models.scoring import BundleScorer
from serving.compute import ComputePool
from serving.logs import logger
from serving.problems import ProblemError
from usecases.curves import outcome_curves

T = TypeVar("T")

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
    compute: ComputePool | None = field(default=None, compare=False, repr=False)
    """Worker processes holding this same bundle (settings.compute_workers > 0), else None."""
    curves: tuple[OutcomeCurve, ...] = field(default=(), compare=False, repr=False)
    """The bundle's outcome curves as the optimizer reads them (every recommendation and scenario needs them)."""
    scorer: BundleScorer | None = field(default=None, compare=False, repr=False)
    """Risk scoring's look-ups for this bundle; built by `BundleHolder.load`, never sent to compute workers."""

    def prepared(self) -> LoadedBundle:
        """This bundle with its curves and scorer built, so no request waits for them."""
        return dataclasses.replace(self, curves=outcome_curves(self.bundle), scorer=BundleScorer(self.bundle))

    @property
    def stale(self) -> bool:
        return self.source == "cache"

    def run(self, work: Callable[..., T], *args: Any) -> T:
        """`work(self, *args)`: in a compute worker when this bundle has a pool that still takes work, else here
        (same bundle either way, so the answer does not depend on where it ran)."""
        future = None if self.compute is None else self.compute.submit(work, args)
        if future is None:
            return work(self, *args)
        try:
            return future.result()
        except BrokenProcessPool as exc:
            if self.compute is not None:
                self.compute.broken()
            # not rerun here: this very work may be what killed the worker (memory, a native crash)
            raise ProblemError(503, "worker-lost", "a compute worker stopped while working on this request; retry it",
                               headers={"Retry-After": "1"}) from exc


Loader = Callable[[], LoadedBundle]


class BundleHolder:
    def __init__(self, pool: Callable[[Any], ComputePool] | None = None) -> None:
        """`pool(loaded)` starts the compute workers for each bundle installed (None: work runs in-process)."""
        self._current: LoadedBundle | None = None
        self._lock = threading.Lock()
        self._pool = pool
        self.last_error: str | None = None

    @property
    def current(self) -> LoadedBundle | None:
        return self._current

    def load(self, loader: Loader) -> tuple[LoadedBundle | None, LoadedBundle]:
        """Run `loader` and install its result; returns (previous, new). The old bundle serves until then."""
        with self._lock:
            new = loader().prepared()
            compile_kernels()  # the allocation DP's loops too (once per process; later calls return at once)
            if self._pool is not None:
                try:
                    # workers take recommendations and scenarios only: risk scoring stays in this process
                    new = dataclasses.replace(new, compute=self._pool(dataclasses.replace(new, scorer=None)))
                except Exception as exc:  # workers are for speed: a bundle that loaded still serves, in-process
                    logger().error("compute workers did not start; serving in-process",
                                   extra={"event": "compute_unavailable", "error_type": type(exc).__name__})
            previous, self._current = self._current, new
            self.last_error = None
        if previous is not None and previous.compute is not None:
            previous.compute.close()  # accepted work finishes there; later calls run in-process on that bundle
        return previous, new

    def close(self) -> None:
        """Stop the current bundle's workers (service shut-down)."""
        current = self._current
        if current is not None and current.compute is not None:
            current.compute.close(wait=True)
