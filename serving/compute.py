"""The optimiser's work (recommendations, scenarios) in worker processes that hold the bundle.

Why processes: one uvicorn process runs Python under one interpreter lock, so concurrent recommendations queued
behind each other and a 2-core machine ran them on about one core. Each worker receives the loaded bundle once,
when its pool starts (spawned, so models are loaded after any fork), and then takes whole recommendations; the
serving process keeps HTTP, keys, sessions, rate limits, audit records and metrics, so none of those has to be
shared between processes. Patient risk stays in the serving process: at ~1.3 ms of CPU for one episode and ~22 ms
for a hundred it costs less than handing the request to a worker and its answer back (bench_service.py, 8
clients, 2 workers, measured when risk cost more: p50 78 ms for 1 episode and 349 ms for 100 through the
workers, 54 and 232 ms in the serving process).

A reload builds a new pool for the new bundle before it is swapped in. The old pool is closed: work it already
accepted finishes there, and a request that took the old bundle but had not yet handed its work over runs it in
the serving process on that same old bundle, so every request ends on the bundle it started with. If a worker
dies (e.g. killed for memory), the pool is closed the same way, logged once, and later requests are served
in-process; the requests whose work was on the dead pool get a 503 instead of a rerun here, since their own work
may be what killed the worker.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from allocation import compile_kernels
from serving.logs import configure_logging, logger

T = TypeVar("T")
START_TIMEOUT_SECONDS = 600.0

_held: Any = None  # what the worker process was started with (the loaded bundle), set once by _start_worker
_barrier: Any = None


def _start_worker(held: Any, log_level: str, barrier: Any) -> None:
    global _held, _barrier
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then shuts the pool down
    configure_logging(log_level)
    compile_kernels()  # before taking work, so no recommendation waits for the DP's loops to compile
    _held, _barrier = held, barrier


def _in_worker(work: Callable[..., T], args: tuple[Any, ...]) -> T:
    if _held is None:
        raise RuntimeError("compute worker has nothing to work on")
    return work(_held, *args)


def _started() -> bool:
    _barrier.wait(START_TIMEOUT_SECONDS)  # returns once every worker is up, so each has unpickled its bundle
    return True


class ComputePool:
    def __init__(self, held: Any, workers: int, log_level: str = "INFO"):
        """Start `workers` processes each holding a copy of `held` (the loaded bundle, sent once) and wait until
        all are up."""
        context = multiprocessing.get_context("spawn")
        self.workers = workers
        self._lock = threading.Lock()
        self._closed = False
        barrier = context.Barrier(workers)
        self._executor = ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                             initargs=(held, log_level, barrier))
        try:
            # one task per worker, each waiting for all: the pool spawns a process per task it cannot place
            for started in [self._executor.submit(_started) for _ in range(workers)]:
                started.result(START_TIMEOUT_SECONDS)
        except BaseException:
            self._executor.shutdown(wait=False, cancel_futures=True)
            raise

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, work: Callable[..., T], args: tuple[Any, ...]) -> Future[T] | None:
        """Hand `work(held, *args)` to a worker; None when this pool no longer takes work."""
        with self._lock:
            if self._closed:
                return None
            try:
                return self._executor.submit(_in_worker, work, args)
            except BrokenProcessPool:
                self._close_locked(broken=True)
            except RuntimeError:  # the interpreter is shutting down: no new work anywhere but here
                self._close_locked(broken=False)
            return None

    def broken(self) -> None:
        with self._lock:
            self._close_locked(broken=True)

    def close(self, *, wait: bool = False) -> None:
        """Take no new work; what was accepted still finishes (unless `wait` is False and the process exits)."""
        with self._lock:
            self._close_locked(broken=False, wait=wait)

    def _close_locked(self, *, broken: bool, wait: bool = False) -> None:
        if self._closed:
            return
        self._closed = True
        if broken:
            logger().error("a compute worker died; serving requests in-process from now on",
                           extra={"event": "compute_broken"})
        self._executor.shutdown(wait=wait, cancel_futures=broken)
