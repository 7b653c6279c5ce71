"""Drift between reference and current data, one :class:`~mlspec.compiler.plan.DriftCheck` per column."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from mlspec.runtime import stats
from mlspec.runtime.contract import is_nested

NUMERIC_ONLY = ("ks", "wasserstein")
CATEGORICAL_ONLY = ("chi2",)
CATEGORICAL_TYPES = ("category", "string", "boolean")
NUMERIC_TYPES = ("integer", "float", "datetime", "date")


HISTOGRAM_BINS = 30            # shared equal-width bins of a numeric column's picture
TOP_CATEGORIES = 12            # categories drawn one by one; the rest are summed as "other"


class NotNumeric(Exception):
    pass


@dataclass(frozen=True)
class Distribution:
    """Both samples of one column summarised for a picture (never used for a statistic).

    Numeric: counts of each sample in the same ``edges`` (equal width over both samples'
    range, one bin per integer when the values are integers spanning few of them).
    Categorical: counts of the ``labels`` most common in either sample, the rest summed in
    ``other_*`` (``other_categories`` of them). ``*_missing``: nulls, NaN and ±inf.
    """

    kind: str                                  # "numeric" | "categorical"
    time_axis: bool                            # numeric values are epoch seconds
    labels: tuple[str, ...]                    # categories (categorical) or () (numeric)
    edges: tuple[float, ...]                   # numeric: len(reference) + 1 bin edges
    reference: tuple[int, ...]
    current: tuple[int, ...]
    reference_rows: int
    current_rows: int
    reference_missing: int
    current_missing: int
    other_reference: int = 0
    other_current: int = 0
    other_categories: int = 0
    integer_bins: bool = False                 # numeric: one bin per integer value (edges at k ± 0.5)


def _histogram(rv: Any, cv: Any, bins: int = HISTOGRAM_BINS, *, per_integer: bool = True
               ) -> tuple[tuple[float, ...], Any, Any, bool]:
    import numpy as np

    both = [a for a in (rv, cv) if len(a)]
    lo = float(min(float(np.min(a)) for a in both))
    hi = float(max(float(np.max(a)) for a in both))
    integral = per_integer and hi - lo < bins and all(bool(np.all(np.floor(a) == a)) for a in both)
    if integral:
        edges = np.arange(lo - 0.5, hi + 1.0, 1.0)           # one bin per integer value
    elif hi > lo:
        if math.isfinite(hi - lo):
            try:
                # bins + range: numpy's fast path for equal widths, the same edges for both samples.
                rc, edges = np.histogram(rv, bins=bins, range=(lo, hi))
                cc, _ = np.histogram(cv, bins=bins, range=(lo, hi))
                return tuple(float(e) for e in edges), rc, cc, False
            except ValueError:                               # a range of a few ulps
                pass
        # lo·(1−t) + hi·t stays finite when hi − lo overflows; equal edges merge (histogram
        # edges must strictly increase).
        t = np.arange(bins + 1) / bins
        edges = np.unique(lo * (1 - t) + hi * t)
    else:
        edges = np.array([lo - 0.5, lo + 0.5])               # one value in both samples
    rc, _ = np.histogram(rv, bins=edges)
    cc, _ = np.histogram(cv, bins=edges)
    return tuple(float(e) for e in edges), rc, cc, integral


def _top_categories(rc: dict[str, int], cc: dict[str, int], top: int = TOP_CATEGORIES) -> Distribution:
    rn, cn = max(sum(rc.values()), 1), max(sum(cc.values()), 1)
    # The categories that matter in either sample; ties by name so the order is stable.
    ranked = sorted(set(rc) | set(cc), key=lambda k: (-max(rc.get(k, 0) / rn, cc.get(k, 0) / cn), k))
    shown, rest = ranked[:top], ranked[top:]
    return Distribution(
        "categorical", False, tuple(shown), (), tuple(rc.get(k, 0) for k in shown),
        tuple(cc.get(k, 0) for k in shown), 0, 0, 0, 0,
        other_reference=sum(rc.get(k, 0) for k in rest), other_current=sum(cc.get(k, 0) for k in rest),
        other_categories=len(rest))


def _time_axis(chunked: Any, contract_type: str | None) -> bool:
    import pyarrow as pa

    if contract_type in ("datetime", "date"):
        return True
    t = chunked.type.value_type if pa.types.is_dictionary(chunked.type) else chunked.type
    return bool(pa.types.is_timestamp(t) or pa.types.is_date(t))


def _decode(chunked: Any) -> Any:
    import pyarrow as pa

    arr = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    return arr


def numeric_values(chunked: Any) -> tuple[Any, dict[str, int]]:
    """Finite values as float64 (datetimes in epoch seconds); nulls, NaN and ±inf dropped."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _decode(chunked)
    t = arr.type
    if pa.types.is_null(t):
        return np.zeros(0), {"rows": len(arr), "nulls": len(arr), "non_finite": 0}
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        from mlspec.runtime.contract import epoch_seconds

        arr = epoch_seconds(arr)
    elif pa.types.is_boolean(t):
        arr = pc.cast(arr, pa.int8())
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            arr = pc.cast(pc.utf8_trim_whitespace(arr), pa.float64())
        except pa.ArrowInvalid:
            raise NotNumeric(f"text ({t})") from None
    elif not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)):
        raise NotNumeric(str(t))
    values = np.asarray(pc.cast(arr, pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=float)
    nan = np.isnan(values)
    finite = np.isfinite(values)
    info = {"rows": len(values), "nulls": int(nan.sum()), "non_finite": int((~finite & ~nan).sum())}
    return values[finite], info


def category_counts(chunked: Any) -> tuple[dict[str, int], dict[str, int]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = _decode(chunked)
    rows = len(arr)
    if pa.types.is_null(arr.type):
        return {}, {"rows": rows, "nulls": rows, "non_finite": 0}
    if is_nested(arr.type) or pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        raise NotNumeric(str(arr.type))
    if pa.types.is_floating(arr.type):
        arr = pc.if_else(pc.fill_null(pc.is_nan(arr), False), pa.scalar(None, arr.type), arr)
    text = pc.cast(arr, pa.string()) if not pa.types.is_string(arr.type) else arr
    nulls = text.null_count
    counts = {}
    for item in pc.value_counts(text.drop_null()).to_pylist():
        counts[item["values"]] = int(item["counts"])
    return counts, {"rows": rows, "nulls": nulls, "non_finite": 0}


def is_categorical(method: str, contract_type: str | None, ref: Any, cur: Any) -> bool:
    import pyarrow as pa

    if method in CATEGORICAL_ONLY:
        return True
    if method in NUMERIC_ONLY:
        return False
    if contract_type in CATEGORICAL_TYPES:
        return True
    if contract_type in NUMERIC_TYPES:
        return False
    for col in (ref, cur):
        t = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t):
            return True
    return False


def run_check(check: Any, ref: Any, cur: Any, contract_type: str | None) -> dict[str, Any]:
    """One column, one method: statistic, p-value (tests), drift verdict and a note."""
    return measure(check, ref, cur, contract_type)[0]


def measure(check: Any, ref: Any, cur: Any, contract_type: str | None) -> tuple[dict[str, Any], Distribution | None]:
    """:func:`run_check`'s result and, from the same decoded values, the column's
    :class:`Distribution` for reports (None when the column could not be decoded)."""
    import numpy as np

    out: dict[str, Any] = {
        "column": check.column, "method": check.method, "threshold": check.threshold,
        "test": check.is_test, "severity": check.severity, "kind": None, "statistic": None,
        "p_value": None, "drift": None, "status": "ok", "reference": None, "current": None, "note": None,
    }
    categorical = is_categorical(check.method, contract_type, ref, cur)
    out["kind"] = "categorical" if categorical else "numeric"
    notes = []
    if categorical:
        try:
            rc, rinfo = category_counts(ref)
            cc, cinfo = category_counts(cur)
        except NotNumeric as exc:
            out["status"] = "error"
            out["note"] = f"{check.method} compares numbers or categories; the column holds {exc}"
            return out, None
        rinfo["values"], cinfo["values"] = sum(rc.values()), sum(cc.values())
    else:
        try:
            rv, rinfo = numeric_values(ref)
            cv, cinfo = numeric_values(cur)
        except NotNumeric as exc:
            out["status"] = "error"
            out["note"] = f"{check.method} needs numbers; the column holds {exc}"
            return out, None
        rinfo["values"], cinfo["values"] = len(rv), len(cv)
        for side, info in (("reference", rinfo), ("current", cinfo)):
            if info["non_finite"]:
                notes.append(f"{info['non_finite']} infinite value(s) in {side} ignored")
    out["reference"], out["current"] = rinfo, cinfo
    if categorical:
        dist = _top_categories(rc, cc)
    elif rinfo["values"] or cinfo["values"]:
        time_axis = _time_axis(cur, contract_type)
        edges, rh, ch, integral = _histogram(rv, cv, per_integer=not time_axis)
        dist = Distribution("numeric", time_axis, (), edges, tuple(int(x) for x in rh),
                            tuple(int(x) for x in ch), 0, 0, 0, 0, integer_bins=integral)
    else:
        dist = Distribution("numeric", False, (), (), (), (), 0, 0, 0, 0)
    dist = replace(dist, reference_rows=rinfo["rows"], current_rows=cinfo["rows"],
                   reference_missing=rinfo["nulls"] + rinfo["non_finite"],
                   current_missing=cinfo["nulls"] + cinfo["non_finite"])
    empty = [side for side, info in (("reference", rinfo), ("current", cinfo)) if info["values"] == 0]
    if empty:
        out["status"] = "skipped"
        why = "no rows" if all((rinfo if s == "reference" else cinfo)["rows"] == 0 for s in empty) else "only nulls"
        out["note"] = f"{' and '.join(empty)} {'has' if len(empty) == 1 else 'have'} no values ({why}); drift not measured"
        return out, dist

    m = check.method
    if categorical:
        cats, r, c = stats.aligned_counts(rc, cc)
        unseen = [k for k in cc if k not in rc]
        if unseen:
            shown = ", ".join(repr(u)[:30] for u in sorted(unseen)[:3])
            notes.append(f"{len(unseen)} categor{'y' if len(unseen) == 1 else 'ies'} not in the reference ({shown}"
                         f"{', …' if len(unseen) > 3 else ''})")
        if len(cats) == 1:
            notes.append("a single category in both data sets")
        if m == "chi2":
            out["statistic"], out["p_value"] = stats.chi2_from_counts(r, c)
        elif m == "psi":
            out["statistic"] = stats.psi_from_counts(r, c)
        else:
            out["statistic"] = stats.js_from_counts(r, c)
    else:
        if float(np.min(rv)) == float(np.max(rv)):
            notes.append("reference is constant")
        if m == "psi":
            out["statistic"] = stats.psi(rv, cv)
        elif m == "jensen_shannon":
            out["statistic"] = stats.jensen_shannon(rv, cv)
        elif m == "ks":
            out["statistic"], out["p_value"] = stats.ks(rv, cv)
        else:
            out["statistic"] = stats.wasserstein(rv, cv)
    for key in ("statistic", "p_value"):
        v = out[key]
        if v is not None and not np.isfinite(v):       # never NaN/inf in reports and metrics
            notes.append(f"{key} was not finite")
            out[key] = None
    score = out["p_value"] if check.is_test else out["statistic"]
    if categorical and not any(k in rc for k in cc):
        # Nothing the model sees now was ever in the reference: that is drift whatever a test
        # on a few rows can prove (chi2 on one row each side gives p = 1).
        notes.append("no current category occurs in the reference")
        out["drift"], out["status"] = True, "drift"
    elif score is None:
        out["status"] = "skipped"
    else:
        out["drift"] = bool(score < check.threshold) if check.is_test else bool(score > check.threshold)
        out["status"] = "drift" if out["drift"] else "ok"
    out["note"] = "; ".join(notes) or None
    return out, dist
