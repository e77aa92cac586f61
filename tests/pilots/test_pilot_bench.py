"""The benchmark's wild cluster bootstrap, the alternative the README figures compare with, checked by brute force."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import statsmodels.api as sm


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_pilot.py"
    spec = importlib.util.spec_from_file_location("bench_pilot", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_wild_cluster_p_equals_refitting_every_sign_pattern_with_statsmodels() -> None:
    """Five programmes, all 32 Rademacher sign patterns: each bootstrap sample refitted by statsmodels WLS (HC2,
    which is CR2 with one row per cluster) gives the same p-value as the vectorised bootstrap."""
    bench = _bench()
    rng = np.random.default_rng(4)
    change, weight = rng.normal(0.02, 0.03, 5), rng.uniform(50, 500, 5)
    treated = np.array([True, True, False, False, False])
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=5)))
    x = sm.add_constant(treated.astype(float))
    fitted = sm.WLS(change, x, weights=weight).fit(cov_type="HC2")
    for value in (0.0, 0.01, float(fitted.params[1]) + 0.05):
        restricted = sm.WLS(change - value * x[:, 1], x[:, :1], weights=weight).fit()
        null_fit = restricted.fittedvalues + value * x[:, 1]
        t = (fitted.params[1] - value) / fitted.bse[1]
        t_star = []
        for s in signs:
            refit = sm.WLS(null_fit + s * restricted.resid, x, weights=weight).fit(cov_type="HC2")
            t_star.append((refit.params[1] - value) / refit.bse[1])
        expected = np.mean(np.abs(t_star) >= abs(t) - 1e-12)
        assert bench.wild_cluster_p(change, treated, weight, value, signs) == pytest.approx(expected)


def test_wild_cluster_p_is_one_at_the_estimate_and_falls_away_from_it() -> None:
    bench = _bench()
    rng = np.random.default_rng(8)
    change, weight = rng.normal(0.0, 0.02, 9), rng.uniform(50, 500, 9)
    treated = np.arange(9) < 3
    signs = bench.WEBB[rng.integers(6, size=(999, 9))]
    x = sm.add_constant(treated.astype(float))
    estimate = float(sm.WLS(change, x, weights=weight).fit().params[1])
    p = [bench.wild_cluster_p(change, treated, weight, estimate + step, signs) for step in (0.0, 0.01, 0.03, 0.1)]
    assert p[0] == 1.0
    assert p == sorted(p, reverse=True) and p[-1] < 0.05
