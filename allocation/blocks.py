"""Blocks: cells joined by resource rows of their own (a clinic's staffing and training share its staff-hour row).

Only the budget, the group rules and resource rows over many cells tie blocks together, so once those rows carry
prices each block is solved on its own: a small block of whole-unit cells by listing every combination of its
levels that meets its rows, which is exact and also gives every combination's loss against the block's best.
Rows over more cells, over a cell with a curve stretch, or joining cells into a block too large to list, are
priced like the budget instead (a valid but looser bound, never a wrong answer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from allocation.cell_domains import CellDomains
from allocation.problem import Problem

# A block is listed in full only up to these sizes; larger ones have their rows priced instead.
MAX_BLOCK_CELLS = 4
MAX_BLOCK_COMBINATIONS = 10_000
# A combination meets a resource row to within this share of the row's scale (float rounding only).
ROW_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class BlockGroup:
    """Blocks of the same shape: ``cells`` (blocks x cells per block) and ``rows`` (blocks x rows per block),
    indices into the problem's cells and resource rows."""

    cells: np.ndarray
    rows: np.ndarray


def find_blocks(problem: Problem, domains: CellDomains, usage: sparse.csr_array) -> list[BlockGroup]:
    """Blocks that can be listed in full, grouped by shape; every other cell stands alone. ``usage`` holds the
    resource rows (rows x cells), sparse: a thousand clinics' rows are mostly empty."""
    parent = list(range(problem.size))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    lengths = np.diff(usage.indptr)
    finite = domains.finite
    small = np.flatnonzero((lengths > 0) & (lengths <= MAX_BLOCK_CELLS))
    supports = {int(r): usage.indices[usage.indptr[r]:usage.indptr[r + 1]] for r in small.tolist()}
    supports = {r: cells for r, cells in supports.items() if finite[cells].all()}  # a curve cell: the row is priced
    members: dict[int, set[int]] = {}
    rows: dict[int, list[int]] = {}
    touched = np.concatenate([supports[r] for r in supports]) if supports else np.zeros(0, dtype=int)
    if len(np.unique(touched)) == len(touched):  # no cell in two small rows: each row is a block (the clinics)
        for r, cells in supports.items():
            members[r], rows[r] = set(cells.tolist()), [r]
    else:
        for cells in supports.values():
            first = root(int(cells[0]))
            for cell in cells[1:]:
                parent[root(int(cell))] = first
        for r, cells in supports.items():
            block = root(int(cells[0]))
            members.setdefault(block, set()).update(cells.tolist())
            rows.setdefault(block, []).append(r)
    counts = domains.real.sum(axis=1)
    shapes: dict[tuple[int, int], tuple[list[list[int]], list[list[int]]]] = {}
    for block, cells in members.items():
        ordered = sorted(cells)
        if len(ordered) > MAX_BLOCK_CELLS or int(np.prod(counts[ordered].astype(float))) > MAX_BLOCK_COMBINATIONS:
            continue
        cell_rows, row_rows = shapes.setdefault((len(ordered), len(rows[block])), ([], []))
        cell_rows.append(ordered)
        row_rows.append(rows[block])
    return [BlockGroup(np.array(c, dtype=int), np.array(r, dtype=int)) for c, r in shapes.values()]


@dataclass(frozen=True, eq=False)
class Combinations:
    """Every combination of a group's blocks' points: ``grid`` (combinations x cells) the point of each cell,
    ``money`` (blocks x combinations x cells), ``score`` (blocks x combinations, the curves' sum) and ``ok``
    (the points exist and the combination meets the block's rows)."""

    grid: np.ndarray
    money: np.ndarray
    score: np.ndarray
    ok: np.ndarray


def combinations(problem: Problem, domains: CellDomains, group: BlockGroup) -> Combinations:
    size = group.cells.shape[1]
    width = int(domains.real[group.cells].sum(axis=2).max())
    grid = np.indices((width,) * size).reshape(size, -1).T
    cells = group.cells[:, None, :]
    money = domains.money[cells, grid[None]]
    ok = domains.real[cells, grid[None]].all(axis=2)
    for k in range(group.rows.shape[1]):
        use = np.array([problem.resources[r].usage[c] for r, c in zip(group.rows[:, k], group.cells, strict=True)])
        available = np.array([problem.resources[r].available for r in group.rows[:, k]])
        scale = np.array([problem.resources[r].scale for r in group.rows[:, k]])
        ok &= (use[:, None, :] * money).sum(axis=2) <= (available + ROW_TOLERANCE * scale)[:, None]
    score = domains.score[cells, grid[None]].sum(axis=2)
    return Combinations(grid=grid, money=money, score=score, ok=ok)


def priced_best(combos: Combinations, prices: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """Each combination's score less the price of its money (minus infinity where it is not allowed)."""
    return np.where(combos.ok, combos.score - (combos.money * prices[cells][:, None, :]).sum(axis=2), -np.inf)
