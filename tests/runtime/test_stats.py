"""Drift statistics against scipy and against what theory says on known distributions."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import chi2_contingency, ks_2samp, norm, wasserstein_distance

from mlspec.runtime import drift, stats

N = 20_000


@pytest.fixture(scope="module")
def samples():
    rng = np.random.default_rng(20261125)
    return {
        "ref": rng.normal(0.0, 1.0, N),
        "same": rng.normal(0.0, 1.0, N),
        "shifted": rng.normal(0.5, 1.0, N),
    }


def _psi_reference(ref, cur, bins=10, eps=1e-4):
    """PSI written out independently: decile edges, right-closed bins, epsilon for empty bins."""
    edges = np.unique(np.quantile(ref, [i / bins for i in range(1, bins)]))
    full = np.concatenate([[-np.inf], edges, [np.inf]])
    r = np.array([np.sum((ref > lo) & (ref <= hi)) for lo, hi in itertools.pairwise(full)]) / len(ref)
    c = np.array([np.sum((cur > lo) & (cur <= hi)) for lo, hi in itertools.pairwise(full)]) / len(cur)
    r, c = np.where(r == 0, eps, r), np.where(c == 0, eps, c)
    return float(np.sum((c - r) * np.log(c / r))), r, c


def test_ks_matches_scipy_and_theory(samples):
    d, p = stats.ks(samples["ref"], samples["shifted"])
    expected = ks_2samp(samples["ref"], samples["shifted"])
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)
    # sup |Φ(x) − Φ(x − 0.5)| = 2Φ(0.25) − 1
    assert d == pytest.approx(2 * norm.cdf(0.25) - 1, abs=0.02)
    assert p < 1e-10
    d_same, p_same = stats.ks(samples["ref"], samples["same"])
    assert d_same < 0.02 and p_same > 0.01


def test_ks_uses_exact_p_value_for_small_samples():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=50), rng.normal(0.3, 1, size=60)
    assert stats.ks(a, b) == pytest.approx(tuple(ks_2samp(a, b, method="exact")))


def test_wasserstein_matches_scipy_and_the_shift(samples):
    w = stats.wasserstein(samples["ref"], samples["shifted"])
    assert w == pytest.approx(wasserstein_distance(samples["ref"], samples["shifted"]), rel=1e-12)
    assert w == pytest.approx(0.5, abs=0.03)          # a pure shift moves every unit of mass by 0.5
    assert stats.wasserstein(samples["ref"], samples["same"]) < 0.03


def test_psi_matches_an_independent_implementation(samples):
    for cur, lo, hi in ((samples["shifted"], 0.2, 0.3), (samples["same"], 0.0, 0.01)):
        ours = stats.psi(samples["ref"], cur)
        theirs, _, _ = _psi_reference(samples["ref"], cur)
        assert ours == pytest.approx(theirs, rel=1e-9)
        # for a mean shift δ of a unit normal PSI → δ² = 0.25 with fine bins; deciles give a bit less
        assert lo <= ours <= hi


def test_jensen_shannon_matches_scipy(samples):
    _, r, c = _psi_reference(samples["ref"], samples["shifted"], eps=0)
    js = stats.jensen_shannon(samples["ref"], samples["shifted"])
    assert js == pytest.approx(float(jensenshannon(r, c, base=2)), rel=1e-9)
    assert 0.1 < js < 0.3
    assert stats.jensen_shannon(samples["ref"], samples["same"]) < 0.03
    assert stats.js_from_counts([5, 5], [5, 5]) == 0.0
    assert stats.js_from_counts([1, 0], [0, 1]) == pytest.approx(1.0)   # disjoint: the maximum in base 2


def test_chi2_matches_scipy_including_unseen_categories():
    cats, r, c = stats.aligned_counts({"a": 10, "b": 5}, {"a": 5, "b": 5, "z": 5})
    assert cats == ["a", "b", "z"]
    assert list(r) == [10, 5, 0] and list(c) == [5, 5, 5]
    stat, p = stats.chi2_from_counts(r, c)
    expected = chi2_contingency(np.array([[10, 5, 0], [5, 5, 5]]))
    assert stat == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
    assert stats.chi2_from_counts([7], [9]) == (0.0, 1.0)                 # one category: no test possible


def test_psi_of_constant_and_disjoint_data_is_finite():
    const = np.full(100, 5.0)
    assert stats.psi(const, const) == 0.0
    moved = stats.psi(const, np.full(100, 6.0))
    assert math.isfinite(moved) and moved > 10                           # (1 − ε)·ln(1/ε), twice
    assert stats.psi_from_counts([10, 0, 0], [0, 0, 10]) == pytest.approx(2 * (1 - 1e-4) * math.log(1e4))


# ------------------------------------------------------------------ run_check on arrow columns


def _check(method, threshold=0.1, column="x"):
    return SimpleNamespace(column=column, method=method, threshold=threshold, is_test=method in ("ks", "chi2"),
                           severity="warning")


@pytest.mark.parametrize("method", ["psi", "ks", "wasserstein", "jensen_shannon", "chi2"])
def test_empty_all_null_and_constant_columns_do_not_crash(method):
    empty = pa.chunked_array([pa.array([], pa.float64())])
    nulls = pa.chunked_array([pa.array([None, None, None])])
    const = pa.chunked_array([pa.array([3.0] * 50)])
    for ref, cur, status in ((empty, const, "skipped"), (const, nulls, "skipped"), (const, const, "ok")):
        r = drift.run_check(_check(method), ref, cur, None)
        assert r["status"] == status, r
        for key in ("statistic", "p_value"):
            assert r[key] is None or math.isfinite(r[key])
        if status == "skipped":
            assert r["drift"] is None and "no values" in r["note"]
        else:
            assert r["drift"] is False


def test_unseen_categories_and_type_handling():
    ref = pa.chunked_array([pa.array(["a"] * 50 + ["b"] * 50).dictionary_encode()])
    cur = pa.chunked_array([pa.array(["a"] * 30 + ["b"] * 30 + ["new"] * 40 + [None] * 5)])
    r = drift.run_check(_check("chi2", 0.01), ref, cur, "category")
    assert r["drift"] is True and r["current"]["nulls"] == 5 and "not in the reference" in r["note"]
    js = drift.run_check(_check("jensen_shannon", 0.1), ref, cur, None)
    assert js["kind"] == "categorical" and js["drift"] is True
    bad = drift.run_check(_check("ks"), ref, cur, None)
    assert bad["status"] == "error" and "needs numbers" in bad["note"]


def test_numeric_values_drop_nulls_nan_and_infinity():
    col = pa.chunked_array([pa.array([1.0, None, float("nan"), float("inf"), 2.0])])
    values, info = drift.numeric_values(col)
    assert list(values) == [1.0, 2.0]
    assert info == {"rows": 5, "nulls": 2, "non_finite": 1}
    ts = pa.chunked_array([pa.array([0, 86_400_000_000], pa.timestamp("us"))])
    assert list(drift.numeric_values(ts)[0]) == [0.0, 86400.0]
