"""Every cell's feasible fundings as points on its curve, and what a price on money makes each of them cost.

A stepped cell's domain is its whole-unit levels, an off-or-viable cell's is 0 plus its curve from min_viable
on, any other cell's its curve between its limits. Curves are piecewise linear, so a curve stretch is held as
its breakpoints with the segments between them marked ``joined``; a linear function of money is maximised over
a domain at one of its points, and the domain's convex hull is the hull of its points, which is all the
decomposition (`decomposition.py`) needs. All cells are held as padded rows so every step runs on all of them
at once: a Python loop over 4,096 cells costs more than the linear programme it feeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocation.envelope import window_points
from allocation.problem import Problem

# A point is as good as the best one when it is within this share of the problem's value (float rounding).
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True, eq=False)
class CellDomains:
    """Padded rows, real points first and in increasing money: money, score, which are real, which are the
    off point of an off-or-viable cell, and which neighbours are joined by a curve segment."""

    money: np.ndarray
    score: np.ndarray
    real: np.ndarray
    off: np.ndarray
    joined: np.ndarray

    @property
    def finite(self) -> np.ndarray:
        """Cells whose domain is a finite set of points (whole units, or a locked cell)."""
        return np.asarray(~self.joined.any(axis=1))


def _interpolated(knots: np.ndarray, scores: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Each row's curve at that row's points (flat beyond the ends, as np.interp)."""
    width = knots.shape[1]
    if width == 1:
        return np.repeat(scores, x.shape[1], axis=1)
    left = np.clip((knots[:, None, :] <= x[:, :, None]).sum(axis=2) - 1, 0, width - 2)
    x0, x1 = np.take_along_axis(knots, left, axis=1), np.take_along_axis(knots, left + 1, axis=1)
    y0, y1 = np.take_along_axis(scores, left, axis=1), np.take_along_axis(scores, left + 1, axis=1)
    share = np.clip(np.divide(x - x0, x1 - x0, out=np.zeros_like(x), where=x1 > x0), 0.0, 1.0)
    return y0 + share * (y1 - y0)


def cell_domains(problem: Problem) -> CellDomains:
    n = problem.size
    knots, scores = problem.curve_table
    lo, hi, viable = problem.lo, problem.hi, problem.viable
    may_be_off = viable > 0
    start = np.where(may_be_off, np.maximum(lo, viable), lo)
    xs, ys, real = window_points(problem, start, np.maximum(hi, start))
    # part: 0 the off point, 1 the curve stretch, negative a level of its own (levels are never joined)
    at_zero = _interpolated(knots, scores, np.zeros((n, 1)))
    xs = np.concatenate([np.zeros((n, 1)), xs], axis=1)
    ys = np.concatenate([at_zero, ys], axis=1)
    real = np.concatenate([(may_be_off & ~problem.stepped)[:, None], real], axis=1)
    part = np.ones(xs.shape, dtype=int)
    part[:, 0] = 0
    stepped = np.flatnonzero(problem.stepped)
    if len(stepped):
        step = problem.unit_step[stepped]
        first, last = np.round(lo[stepped] / step), np.round(hi[stepped] / step)
        count = (last - first + 1).astype(int)
        position = np.arange(int(count.max()))
        levels = (first[:, None] + position) * step[:, None]
        level_real = position < count[:, None]
        floor = viable[stepped, None]
        level_real &= (floor <= 0) | (levels >= floor - 1e-9 * floor) | (levels == 0)
        width = max(xs.shape[1], len(position))
        xs, ys, real, part = (np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)
                              for a, fill in ((xs, 0.0), (ys, 0.0), (real, False), (part, 1)))
        xs[stepped] = 0.0
        xs[stepped, : len(position)] = levels
        ys[stepped] = 0.0
        ys[stepped, : len(position)] = _interpolated(knots[stepped], scores[stepped], levels)
        real[stepped] = False
        real[stepped, : len(position)] = level_real
        part[stepped] = -1 - np.arange(width)
    order = np.argsort(~real, axis=1, kind="stable")
    xs, ys, real, part = (np.take_along_axis(a, order, axis=1) for a in (xs, ys, real, part))
    off = real & may_be_off[:, None] & (xs == 0.0) & (part <= 0)
    joined = real[:, :-1] & real[:, 1:] & (part[:, :-1] == part[:, 1:]) & (part[:, :-1] >= 1)
    return CellDomains(money=xs, score=ys, real=real, off=off, joined=joined)


def priced_scores(domains: CellDomains, prices: np.ndarray) -> np.ndarray:
    """score - price x money at every point (minus infinity where a row has no point)."""
    return np.where(domains.real, domains.score - prices[:, None] * domains.money, -np.inf)
