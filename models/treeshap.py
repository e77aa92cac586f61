"""Exact TreeSHAP for a LightGBM booster by table look-up: LightGBM's own `pred_contrib` values (within 1e-9)
several times faster (250 trees of 15 leaves: 0.2 vs 0.75 ms for one row, 8 vs 62 ms for 100), so that a risk
request can afford to explain every episode it scores.

Why tables: for one leaf, a row enters TreeSHAP only through which of the leaf's path features it agrees with,
a pattern of d bits (d = distinct features on the path), and the leaf's contribution to each of those features
is a fixed number per pattern (FastTreeSHAP "v2", Yang 2022). With trees of a few dozen leaves d stays small, so
every pattern's contributions are computed once per loaded model; a row then costs a bin look-up per feature, a
bit per (leaf, path feature) and one table row per leaf, instead of LightGBM's path recursion, leaves x depth^2
per tree. The row loop is compiled (numba) and releases the GIL, as LightGBM does.

Why trust it: when the tables are built they are checked against LightGBM's `pred_contrib` on probe rows that
put every feature on, just above and below every threshold, on every category and missing (`probe_rows`); a
booster they do not reproduce, or one using what they do not model (zero-as-missing splits, paths too deep for
tables of sane size), is explained by LightGBM itself instead (`tables_for` returns None). The values differ from
LightGBM's by float rounding only (~1e-15): the same formula, summed in another order.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from math import factorial
from typing import Any

import lightgbm as lgb
import numpy as np

MAX_TABLE_ENTRIES = 4_000_000
"""32 MB of float64 per model at most; deeper trees are left to LightGBM."""
PROBE_ROWS = 64
BLOCK_ROWS = 32
"""Rows scored together by the compiled loop (their per-leaf patterns stay in cache: 32 x leaves x 8 bytes)."""
ZERO = float(np.float32(1e-35))
"""LightGBM's kZeroThreshold: it reads values within +-ZERO of 0 as exactly 0.0 (they are dropped from its sparse
rows), for numeric and categorical features alike."""
AGREEMENT = 1e-9
"""Largest difference from LightGBM's contributions accepted on probe rows (float rounding is ~1e-15)."""


class TablesUnsupportedError(ValueError):
    """The booster uses something the tables do not model; LightGBM's pred_contrib explains it instead."""


@dataclass(frozen=True)
class TreeShapTables:
    """Arrays the compiled row loop reads; see `_rows` for how they fit together."""

    numeric: np.ndarray  # per feature: True when numeric (bins between thresholds), False when categorical
    cut_start: np.ndarray  # per feature: its sorted distinct thresholds are cuts[cut_start[f]:cut_start[f + 1]]
    cuts: np.ndarray
    n_bins: np.ndarray  # per feature; the last bin is missing (numeric) or missing/unknown code (categorical)
    slot_start: np.ndarray  # per feature: its slots (leaf, distinct path feature) are slot_start[f]:[f + 1]
    agree_start: np.ndarray  # per feature: agree[agree_start[f] + bin * n_slots + i] for its i-th slot
    agree: np.ndarray  # uint8: 1 where a row in that bin satisfies all the leaf path's splits on the feature
    slot_leaf: np.ndarray
    slot_bit: np.ndarray  # 1 << (position of the feature among the leaf's distinct path features)
    leaf_at: np.ndarray  # per leaf: table[leaf_at + pattern * width + k] is its contribution to feature k
    leaf_width: np.ndarray
    leaf_feature_start: np.ndarray
    leaf_features: np.ndarray
    table: np.ndarray
    expected_value: float

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Rows x (features + 1): SHAP values in raw score (log-odds) units, the expected value last, as
        LightGBM's `predict(X, pred_contrib=True)` gives them."""
        matrix = np.ascontiguousarray(X, dtype=np.float64)
        out = np.zeros((len(matrix), len(self.numeric) + 1))
        out[:, -1] = self.expected_value
        _kernel()(matrix, self.numeric, self.cut_start, self.cuts, self.n_bins, self.slot_start, self.agree_start,
                  self.agree, self.slot_leaf, self.slot_bit, self.leaf_at, self.leaf_width, self.leaf_feature_start,
                  self.leaf_features, self.table, ZERO, out)
        return out


def _rows(X: np.ndarray, numeric: np.ndarray, cut_start: np.ndarray, cuts: np.ndarray, n_bins: np.ndarray,
          slot_start: np.ndarray, agree_start: np.ndarray, agree: np.ndarray, slot_leaf: np.ndarray,
          slot_bit: np.ndarray, leaf_at: np.ndarray, leaf_width: np.ndarray, leaf_feature_start: np.ndarray,
          leaf_features: np.ndarray, table: np.ndarray, zero: float, out: np.ndarray) -> None:
    """Each feature's bin per row (LightGBM's decision rules), each leaf's agreement pattern per row, then each
    leaf's table row added to the features on its path. Plain loops, for numba to compile. Rows go in blocks
    and the loops run leaf by leaf within a block, so a leaf's table (a few hundred bytes) stays in cache across
    the block's rows instead of every row fetching every leaf's table from memory."""
    n_features = len(numeric)
    block = max(1, min(BLOCK_ROWS, X.shape[0]))  # one episode: no block-sized arrays to clear
    bins = np.empty((block, n_features), dtype=np.int64)
    pattern = np.zeros((len(leaf_at), block), dtype=np.int64)
    for start in range(0, X.shape[0], block):
        rows = min(block, X.shape[0] - start)
        pattern[:, :] = 0
        for f in range(n_features):
            missing = n_bins[f] - 1
            for r in range(rows):
                value = X[start + r, f]
                if abs(value) <= zero:
                    value = 0.0
                if np.isnan(value):
                    b = missing
                elif numeric[f]:  # bin b holds the values above b thresholds: value <= cut i  <=>  i >= b
                    b = np.searchsorted(cuts[cut_start[f]:cut_start[f + 1]], value)
                elif value < 0 or value >= missing:  # negative and unknown codes go where missing ones go
                    b = missing
                else:
                    b = int(value)
                bins[r, f] = b
            count = slot_start[f + 1] - slot_start[f]
            for i in range(count):
                slot = slot_start[f] + i
                leaf, bit = slot_leaf[slot], slot_bit[slot]
                for r in range(rows):
                    if agree[agree_start[f] + bins[r, f] * count + i]:
                        pattern[leaf, r] |= bit
        for leaf in range(len(leaf_at)):
            width, first = leaf_width[leaf], leaf_feature_start[leaf]
            for r in range(rows):
                at = leaf_at[leaf] + pattern[leaf, r] * width
                for k in range(width):
                    out[start + r, leaf_features[first + k]] += table[at + k]


_COMPILED: list[Any] = []


def _kernel() -> Any:
    """`_rows` compiled on first use, so importing this module compiles nothing. Not cached on disk: numba's
    cache is written and read by every process that compiles, and concurrent first compiles in several processes
    (compute workers, test runs) can leave a cache another process then fails on; compiling costs ~1 s per
    process, once, when a bundle is prepared for scoring."""
    if not _COMPILED:
        import numba

        _COMPILED.append(numba.njit(nogil=True)(_rows))
    return _COMPILED[0]


@dataclass
class _Split:
    feature: int
    categorical: bool
    threshold: float
    left_categories: frozenset[int]
    missing_nan: bool
    default_left: bool


@dataclass
class _Leaf:
    value: float
    path: list[tuple[int, bool, float]]  # (split id, took the left branch, share of the node's data going there)


def _parse(node: dict[str, Any], splits: list[_Split], leaves: list[_Leaf], path: list[tuple[int, bool, float]]
           ) -> None:
    if "split_feature" not in node:
        leaves.append(_Leaf(float(node["leaf_value"]), path))
        return
    if node["missing_type"] == "Zero":
        raise TablesUnsupportedError("zero-as-missing splits")
    categorical = node["decision_type"] == "=="
    threshold = 0.0 if categorical else float(node["threshold"])
    # dumps write thresholds beyond +-1e300 (the last bin's infinite bound) as +-1e300
    threshold = np.inf if threshold >= 1e300 else -np.inf if threshold <= -1e300 else threshold
    splits.append(_Split(int(node["split_feature"]), categorical, threshold,
                         frozenset(int(c) for c in str(node["threshold"]).split("||")) if categorical else frozenset(),
                         node["missing_type"] == "NaN", bool(node["default_left"])))
    split, total = len(splits) - 1, float(node["internal_count"])
    for child, left in ((node["left_child"], True), (node["right_child"], False)):
        count = float(child["internal_count"] if "split_feature" in child else child["leaf_count"])
        _parse(child, splits, leaves, [*path, (split, left, count / total)])


def _leaf_tables(values: np.ndarray, zero: np.ndarray) -> np.ndarray:
    """Contributions per leaf, pattern p (bit j: the row agrees with path feature j) and path feature k, for
    leaves with the same number d of distinct path features: v * (o_k - z_k) * sum over subsets S of the other
    features of |S|! (d-1-|S|)! / d! * prod_S o * prod_rest z (TreeSHAP's weights), by polynomial coefficients."""
    count, d = zero.shape
    patterns = (np.arange(2**d)[:, None] >> np.arange(d)[None, :]) & 1  # (P, d)
    weights = np.array([factorial(s) * factorial(d - 1 - s) / factorial(d) for s in range(d)])
    out = np.empty((count, 2**d, d))
    for k in range(d):
        coef = np.zeros((count, 2**d, d))
        coef[..., 0] = 1.0
        for j in range(d):
            if j != k:
                shifted = np.zeros_like(coef)
                shifted[..., 1:] = coef[..., :-1] * patterns[None, :, j, None]
                coef = coef * zero[:, None, j, None] + shifted
        out[:, :, k] = values[:, None] * (patterns[None, :, k] - zero[:, k, None]) * (coef @ weights)
    return out


def build_tables(booster: lgb.Booster) -> TreeShapTables:
    """The tables of `booster` (unchecked: `checked_tables` compares them with LightGBM)."""
    dump = booster.dump_model()
    n_features = booster.num_feature()
    splits: list[_Split] = []
    leaves: list[_Leaf] = []
    expected = 0.0
    for tree in dump["tree_info"]:
        root = tree["tree_structure"]
        if "split_feature" not in root:
            expected += float(root["leaf_value"])
            continue
        first = len(leaves)
        _parse(root, splits, leaves, [])
        counts = _leaf_counts(root)
        expected += sum(c / float(root["internal_count"]) * leaf.value
                        for c, leaf in zip(counts, leaves[first:], strict=True))

    numeric = np.ones(n_features, dtype=np.bool_)
    for split in splits:
        numeric[split.feature] &= not split.categorical
    cuts = [np.unique([s.threshold for s in splits if s.feature == f and not s.categorical]) for f in range(n_features)]
    cats = [max((max(s.left_categories) + 1 for s in splits if s.feature == f and s.categorical), default=0)
            for f in range(n_features)]
    n_bins = np.array([len(cuts[f]) + 2 if numeric[f] else cats[f] + 1 for f in range(n_features)], dtype=np.int64)
    goes_left = [_goes_left(s, cuts[s.feature], cats[s.feature]) for s in splits]

    # per leaf, its distinct path features: agreement is the AND of the path's splits on one, zero share the product
    slots: list[tuple[int, int, int, np.ndarray]] = []  # (feature, leaf, position, agreeing bins)
    widths = np.zeros(len(leaves), dtype=np.int64)
    zeros: list[list[float]] = []
    features_of: list[list[int]] = []
    for leaf_id, leaf in enumerate(leaves):
        merged: dict[int, tuple[np.ndarray, float]] = {}
        for split_id, left, share in leaf.path:
            feature = splits[split_id].feature
            agrees = goes_left[split_id] == left
            if feature in merged:
                agrees, share = merged[feature][0] & agrees, merged[feature][1] * share
            merged[feature] = (agrees, share)
        for position, (feature, (agrees, _)) in enumerate(merged.items()):
            slots.append((feature, leaf_id, position, agrees))
        widths[leaf_id] = len(merged)
        zeros.append([share for _, share in merged.values()])
        features_of.append(list(merged))
    entries = int(sum(int(w) * 2 ** int(w) for w in widths))
    if entries > MAX_TABLE_ENTRIES:
        raise TablesUnsupportedError(f"tables of {entries:,} entries")

    leaf_at = np.zeros(len(leaves), dtype=np.int64)
    parts, offset = [], 0
    for width in sorted(set(widths.tolist())):
        members = np.flatnonzero(widths == width)
        block = _leaf_tables(np.array([leaves[i].value for i in members]), np.array([zeros[i] for i in members]))
        leaf_at[members] = offset + np.arange(len(members)) * width * 2**width
        parts.append(block.ravel())
        offset += block.size

    slots.sort(key=lambda s: (s[0], s[1]))
    slot_feature = np.array([s[0] for s in slots], dtype=np.int64)
    slot_start = np.searchsorted(slot_feature, np.arange(n_features + 1)).astype(np.int64)
    agree_parts: list[np.ndarray] = []  # per feature, bins x its slots: a row's bits for one feature lie together
    for f in range(n_features):
        rows = [s[3] for s in slots[slot_start[f]:slot_start[f + 1]]]
        agree_parts.append((np.column_stack(rows) if rows else np.zeros((n_bins[f], 0), dtype=bool)).ravel())
    agree_start = np.cumsum([0, *(p.size for p in agree_parts)])[:-1].astype(np.int64)
    return TreeShapTables(
        numeric=numeric, cut_start=np.cumsum([0, *(len(c) for c in cuts)]).astype(np.int64),
        cuts=np.concatenate([*cuts, np.zeros(0)]).astype(np.float64), n_bins=n_bins, slot_start=slot_start,
        agree_start=agree_start, agree=np.concatenate([*agree_parts, np.zeros(0, dtype=bool)]).astype(np.uint8),
        slot_leaf=np.array([s[1] for s in slots], dtype=np.int64),
        slot_bit=np.array([1 << s[2] for s in slots], dtype=np.int64), leaf_at=leaf_at, leaf_width=widths,
        leaf_feature_start=np.cumsum([0, *widths[:-1]]).astype(np.int64),
        leaf_features=np.array([f for fs in features_of for f in fs], dtype=np.int64),
        table=np.concatenate(parts) if parts else np.zeros(0), expected_value=expected)


def _goes_left(split: _Split, cuts: np.ndarray, cats: int) -> np.ndarray:
    """Per bin of the split's feature, whether LightGBM sends a row there left (its own decision rules)."""
    if split.categorical:  # in the category set -> left; missing, negative and unknown codes -> right
        return np.array([c in split.left_categories for c in range(cats)] + [False])
    position = int(np.searchsorted(cuts, split.threshold))
    # a missing value takes the learnt default side, or (no missing values at training) is compared as 0.0
    missing = split.default_left if split.missing_nan else bool(split.threshold >= 0.0)
    return np.append(np.arange(len(cuts) + 1) <= position, missing)


def _leaf_counts(node: dict[str, Any]) -> list[float]:
    if "split_feature" not in node:
        return [float(node["leaf_count"])]
    return [*_leaf_counts(node["left_child"]), *_leaf_counts(node["right_child"])]


def probe_rows(tables: TreeShapTables, rows: int = PROBE_ROWS, seed: int = 0) -> np.ndarray:
    """Rows that put each feature at least once on, just above and beside every one of its thresholds, on every
    category, at LightGBM's zero band and missing; the columns are shuffled independently, so the other features
    take random values from their own candidates (at least `rows` rows, more when a feature has more candidates)."""
    rng = np.random.default_rng(seed)
    candidates = []
    for f in range(len(tables.numeric)):
        if tables.numeric[f]:
            cuts = tables.cuts[tables.cut_start[f]:tables.cut_start[f + 1]]
            finite = cuts[np.isfinite(cuts)]
            edges = np.r_[finite.min() - 1.0, finite.max() + 1.0] if len(finite) else np.r_[-1.0, 1.0]
            candidates.append(np.r_[cuts, np.nextafter(cuts, np.inf), np.nextafter(cuts, -np.inf), np.nan, 0.0,
                                    ZERO, -ZERO, 2 * ZERO, -2 * ZERO, edges])
        else:
            candidates.append(np.r_[np.arange(tables.n_bins[f], dtype=float), np.nan, -1.0, -ZERO])
    count = max([rows, *(len(c) for c in candidates)])
    return np.column_stack([np.resize(rng.permutation(c), count) for c in candidates])


def checked_tables(booster: lgb.Booster) -> TreeShapTables:
    """`build_tables`, refused (TablesUnsupportedError) unless they match LightGBM's pred_contrib on probe rows."""
    tables = build_tables(booster)
    probes = probe_rows(tables)
    reference = np.asarray(booster.predict(probes, pred_contrib=True, num_threads=1))
    if not np.allclose(tables.contributions(probes), reference, rtol=0.0, atol=AGREEMENT):
        raise TablesUnsupportedError("tables disagree with LightGBM on probe rows")
    return tables


def tables_for(booster: lgb.Booster) -> TreeShapTables | None:
    """Checked tables, or None when LightGBM's own pred_contrib must explain this booster: tables it does not
    reproduce, or any failure to build them (e.g. numba cannot compile here), which must never stop a
    good bundle from loading."""
    try:
        return checked_tables(booster)
    except TablesUnsupportedError:
        return None
    except Exception as exc:  # the fallback is exact, only slower
        logging.getLogger(__name__).warning("TreeSHAP tables unavailable (%s); LightGBM explains instead",
                                            type(exc).__name__)
        return None
