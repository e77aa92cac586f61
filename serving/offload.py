"""Blocking work off the event loop through asyncio's own executor hand-off, on thread pools this service owns.

FastAPI sends every plain `def` route and dependency (and the response check of such a route) through anyio's
`to_thread`; each of those hops cost ~0.25 ms of CPU here (capacity limiter, context-variable look-ups, cancel
scopes, a Condition-based queue), as much as scoring one patient, and a request took four or five of them. The
hot routes and the audit rows therefore go through `run_in_executor` (a C queue and one future) instead:
- `compute`: routes' CPU work (risk and its SHAP factors; recommendations and scenarios, or their waits on compute
  workers); few threads (settings.resolved_compute_threads), as that work holds the GIL apart from the compiled
  loops, and threads queueing for the GIL cost CPU of their own;
- `audit`: one thread, so audit rows are written in order and never wait on each other's SQLite lock.
Threads start on first use (nothing at construction); `close` waits for accepted work at shut-down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from starlette.requests import Request

from serving.audit import AuditUnavailableError

T = TypeVar("T")


class Offload:
    def __init__(self, compute_threads: int) -> None:
        self._compute = ThreadPoolExecutor(compute_threads, thread_name_prefix="carealloc-compute")
        self._audit = ThreadPoolExecutor(1, thread_name_prefix="carealloc-audit")

    async def compute(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._compute, work, *args)

    async def audit(self, work: Callable[..., T], *args: Any) -> T:
        try:
            future = asyncio.get_running_loop().run_in_executor(self._audit, work, *args)
        except RuntimeError as exc:  # shut down: a request still running at the end cannot be recorded -> 503
            raise AuditUnavailableError("audit writer closed") from exc
        return await future

    def close(self) -> None:
        self._compute.shutdown(wait=True)
        self._audit.shutdown(wait=True)


def offload(request: Request) -> Offload:
    found: Offload = request.app.state.offload
    return found
