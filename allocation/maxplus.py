"""Max-plus convolution, the inner loop of the grid DP (`reference.py`), as compiled loops.

new[t] = max_j prev[t - j] + values[j] costs len(prev) x len(values) additions per programme whatever the
implementation; a numpy 2-D sliding window would allocate that whole window per programme and pay ~0.1 ms of
call overhead for each of 50 programmes, most of a recommendation's time. Here a whole chain of programmes is
one call, the loop runs over totals innermost so it compiles to vector instructions, and the maximising j is not
recorded for every total: `backtrack` recovers it for the one total a plan needs from the kept tables (the same
additions give bit-identical sums, so equality finds it).

Ties pick the largest j: a fixed rule, so one problem always gives one plan.
Compiled on first use (nothing at import); `compile_kernels` lets a server pay that once before its first
request. Not cached on disk, for the reason `models/treeshap.py` gives.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

_COMPILED: dict[str, Any] = {}
_COMPILING = threading.Lock()
_FAST = {"nnan", "nsz", "arcp", "contract", "afn", "reassoc"}


def _chain(values: np.ndarray, widths: np.ndarray, cap: int, rows: np.ndarray, lengths: np.ndarray) -> None:
    """rows[i] = best value of every total t <= cap over items 0..i, each item i taking 0..widths[i] steps
    worth values[i, j]; lengths[i] = how many totals rows[i] holds. -inf values (a group outside its floor..cap)
    are skipped, and so are the -inf stretches at either end of the running table."""
    empty = np.zeros(1)
    for i in range(values.shape[0]):
        prev = empty if i == 0 else rows[i - 1]
        prev_length = 1 if i == 0 else lengths[i - 1]
        first, last = 0, prev_length - 1
        while first <= last and prev[first] == -np.inf:
            first += 1
        while last >= first and prev[last] == -np.inf:
            last -= 1
        top = min(cap, prev_length - 1 + widths[i])
        out = rows[i]
        for t in range(top + 1):
            out[t] = -np.inf
        lengths[i] = top + 1
        if first > last:
            continue
        for j in range(widths[i] + 1):
            value = values[i, j]
            if value == -np.inf:
                continue
            stop = min(top, j + last)
            target = out[j + first : stop + 1]  # two plain slices: the loop below compiles to vector instructions
            source = prev[first : stop + 1 - j]
            for t in range(len(target)):
                candidate = source[t] + value
                current = target[t]
                target[t] = candidate if candidate > current else current


def _backtrack(values: np.ndarray, widths: np.ndarray, rows: np.ndarray, lengths: np.ndarray, total: int,
               steps: np.ndarray) -> None:
    """steps[i] = what item i takes in the best way to reach ``total`` (largest j among ties)."""
    empty = np.zeros(1)
    left = total
    for i in range(values.shape[0] - 1, -1, -1):
        prev = empty if i == 0 else rows[i - 1]
        prev_length = 1 if i == 0 else lengths[i - 1]
        target = rows[i, left]
        pick = -1
        for j in range(min(widths[i], left), max(0, left - prev_length + 1) - 1, -1):
            if prev[left - j] + values[i, j] == target:
                pick = j
                break
        steps[i] = pick
        left -= max(pick, 0)


def _kernels() -> dict[str, Any]:
    with _COMPILING:  # two threads' first solves at once must not see half the kernels
        if not _COMPILED:
            import numba

            # fast-math without "ninf": -inf marks unreachable totals; additions and comparisons stay exact
            chain = numba.njit(nogil=True, fastmath=_FAST)(_chain)
            backtrack = numba.njit(nogil=True)(_backtrack)
            _COMPILED.update(chain=chain, backtrack=backtrack)
    return _COMPILED


class Chain:
    """The DP over a sequence of items (a group's programmes, or the groups themselves): every running table
    is kept, so a plan for any total can be read back later (the budget curve reads several)."""

    def __init__(self, values: list[np.ndarray], cap: int) -> None:
        self.widths = np.array([len(v) - 1 for v in values], dtype=np.int64)
        self.values = np.full((len(values), int(self.widths.max(initial=0)) + 1), -np.inf)
        for row, value in zip(self.values, values, strict=True):
            row[: len(value)] = value
        self.rows = np.empty((len(values), cap + 1))
        self.lengths = np.zeros(len(values), dtype=np.int64)
        _kernels()["chain"](self.values, self.widths, cap, self.rows, self.lengths)

    @property
    def table(self) -> np.ndarray:
        """Best value of every total over all items (-inf where no choice reaches it)."""
        return self.rows[-1, : self.lengths[-1]] if len(self.rows) else np.zeros(1)

    def steps(self, total: int) -> np.ndarray:
        """What each item takes in a best way to reach ``total`` (which must be finite in ``table``)."""
        table = self.table
        if not (0 <= total < len(table) and np.isfinite(table[total])):
            raise ArithmeticError(f"total {total} is not reachable (the table holds {len(table)} totals)")
        steps = np.zeros(len(self.widths), dtype=np.int64)
        _kernels()["backtrack"](self.values, self.widths, self.rows, self.lengths, total, steps)
        if (steps < 0).any():
            raise ArithmeticError(f"no way back from total {total}")
        return steps


def compile_kernels() -> None:
    """Compile both loops now (~1 s once per process) rather than inside the first recommendation."""
    Chain([np.zeros(2), np.zeros(2)], 2).steps(1)
