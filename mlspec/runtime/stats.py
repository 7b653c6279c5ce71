"""Drift statistics on numpy arrays (numpy and scipy are imported inside the functions).

- PSI: population stability index over bins cut at the reference's quantiles (10 bins;
  repeated cut points merge, so a constant reference gives the bins ``<= c`` and ``> c``);
  categorical columns use one bin per category. Empty bins get a proportion of 1e-4
  (epsilon smoothing) so the logarithm stays finite.
  ``PSI = Σ (cur_i − ref_i) · ln(cur_i / ref_i)``.
- KS: two-sample Kolmogorov–Smirnov (``scipy.stats.ks_2samp``); the asymptotic p-value is
  used when both samples are large (exact p-values cost O(n·m)).
- Wasserstein: 1-D earth mover's distance (``scipy.stats.wasserstein_distance``), in the
  column's unit.
- chi²: ``scipy.stats.chi2_contingency`` on the 2×k table of category counts (reference,
  current) over the union of categories, so categories unseen in the reference simply
  have a reference count of 0. One category in all: statistic 0, p-value 1.
- Jensen–Shannon distance (base 2, in [0, 1]): ``scipy.spatial.distance.jensenshannon`` of
  the two distributions — category frequencies, or the PSI bins for numbers.
"""

from __future__ import annotations

from typing import Any

PSI_BINS = 10
PSI_EPSILON = 1e-4
EXACT_KS_MAX = 10_000          # above this many values in the larger sample: asymptotic KS p-value


def quantile_edges(ref: Any, bins: int = PSI_BINS) -> Any:
    """Interior cut points at the reference's quantiles, duplicates merged."""
    import numpy as np

    qs = np.linspace(0.0, 1.0, bins + 1)[1:-1]
    return np.unique(np.quantile(ref, qs))


def bin_counts(ref: Any, cur: Any, bins: int = PSI_BINS) -> tuple[Any, Any, Any]:
    """Counts of both samples in the bins ``(-inf, e1], (e1, e2], …, (ek, inf)``."""
    import numpy as np

    edges = quantile_edges(ref, bins)
    k = len(edges) + 1
    rc = np.bincount(np.searchsorted(edges, ref, side="left"), minlength=k)
    cc = np.bincount(np.searchsorted(edges, cur, side="left"), minlength=k)
    return rc, cc, edges


def psi_from_counts(ref_counts: Any, cur_counts: Any, eps: float = PSI_EPSILON) -> float:
    import numpy as np

    r = np.asarray(ref_counts, dtype=float)
    c = np.asarray(cur_counts, dtype=float)
    r = r / r.sum()
    c = c / c.sum()
    r = np.where(r == 0, eps, r)
    c = np.where(c == 0, eps, c)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(ref: Any, cur: Any, bins: int = PSI_BINS, eps: float = PSI_EPSILON) -> float:
    rc, cc, _ = bin_counts(ref, cur, bins)
    return psi_from_counts(rc, cc, eps)


def js_from_counts(ref_counts: Any, cur_counts: Any) -> float:
    import numpy as np
    from scipy.spatial.distance import jensenshannon

    r = np.asarray(ref_counts, dtype=float)
    c = np.asarray(cur_counts, dtype=float)
    d = float(jensenshannon(r / r.sum(), c / c.sum(), base=2))
    return 0.0 if np.isnan(d) else max(0.0, min(1.0, d))   # identical inputs can round to NaN or -0


def jensen_shannon(ref: Any, cur: Any, bins: int = PSI_BINS) -> float:
    rc, cc, _ = bin_counts(ref, cur, bins)
    return js_from_counts(rc, cc)


def ks(ref: Any, cur: Any) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    method = "asymp" if max(len(ref), len(cur)) > EXACT_KS_MAX else "auto"
    r = ks_2samp(ref, cur, method=method)
    return float(r.statistic), float(r.pvalue)


def wasserstein(ref: Any, cur: Any) -> float:
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(ref, cur))


def chi2_from_counts(ref_counts: Any, cur_counts: Any) -> tuple[float, float]:
    import numpy as np
    from scipy.stats import chi2_contingency

    table = np.vstack([np.asarray(ref_counts, dtype=float), np.asarray(cur_counts, dtype=float)])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 0.0, 1.0
    res = chi2_contingency(table)
    return float(res.statistic), float(res.pvalue)


def aligned_counts(ref_counts: dict[str, int], cur_counts: dict[str, int]) -> tuple[list[str], Any, Any]:
    """Both count vectors over the union of categories (sorted, so results are stable)."""
    import numpy as np

    cats = sorted(set(ref_counts) | set(cur_counts))
    return (cats, np.array([ref_counts.get(c, 0) for c in cats], dtype=float),
            np.array([cur_counts.get(c, 0) for c in cats], dtype=float))
