"""Upper concave envelopes of piecewise-linear curves.

A concave envelope turns a step- or S-shaped curve into something a convex method can handle: it never
under-states the curve, so maximising it gives an upper bound (`certificate.py`), and locally it gives the
smooth, shape-constrained surrogate the polish step climbs (`polish.py`).
"""

from __future__ import annotations

import numpy as np


def section(knots: np.ndarray, scores: np.ndarray, start: float, stop: float) -> tuple[np.ndarray, np.ndarray]:
    """The piecewise-linear curve restricted to [start, stop], as its own knots and values."""
    inside = knots[(knots > start) & (knots < stop)]
    xs = np.concatenate([[start], inside, [stop]]) if stop > start else np.array([start])
    return xs, np.interp(xs, knots, scores)


def upper_hull_lines(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Slopes and anchor values (value at ``xs[0]``) of the concave envelope's pieces; min over them is the hull."""
    hull: list[tuple[float, float]] = []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        while len(hull) >= 2:
            (x0, y0), (x1, y1) = hull[-2], hull[-1]
            if (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= 0:
                hull.pop()
            else:
                break
        hull.append((x, y))
    if len(hull) == 1:
        return np.zeros(1), np.array([hull[0][1]])
    px = np.array([p[0] for p in hull])
    py = np.array([p[1] for p in hull])
    slopes = np.diff(py) / np.diff(px)
    anchors = py[:-1] + slopes * (xs[0] - px[:-1])
    return slopes, anchors
