"""Drift between reference and current data, one :class:`~mlspec.compiler.plan.DriftCheck` per column."""

from __future__ import annotations

from typing import Any

from mlspec.runtime import stats
from mlspec.runtime.contract import is_nested

NUMERIC_ONLY = ("ks", "wasserstein")
CATEGORICAL_ONLY = ("chi2",)
CATEGORICAL_TYPES = ("category", "string", "boolean")
NUMERIC_TYPES = ("integer", "float", "datetime", "date")


class NotNumeric(Exception):
    pass


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
            return out
        rinfo["values"], cinfo["values"] = sum(rc.values()), sum(cc.values())
    else:
        try:
            rv, rinfo = numeric_values(ref)
            cv, cinfo = numeric_values(cur)
        except NotNumeric as exc:
            out["status"] = "error"
            out["note"] = f"{check.method} needs numbers; the column holds {exc}"
            return out
        rinfo["values"], cinfo["values"] = len(rv), len(cv)
        for side, info in (("reference", rinfo), ("current", cinfo)):
            if info["non_finite"]:
                notes.append(f"{info['non_finite']} infinite value(s) in {side} ignored")
    out["reference"], out["current"] = rinfo, cinfo
    empty = [side for side, info in (("reference", rinfo), ("current", cinfo)) if info["values"] == 0]
    if empty:
        out["status"] = "skipped"
        why = "no rows" if all((rinfo if s == "reference" else cinfo)["rows"] == 0 for s in empty) else "only nulls"
        out["note"] = f"{' and '.join(empty)} {'has' if len(empty) == 1 else 'have'} no values ({why}); drift not measured"
        return out

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
    return out


def spec_path_of(doc: Any, column: str, method: str) -> tuple[Any, ...]:
    """Where a (column, method) check is written: ``monitoring.drift[i].columns[j]``."""
    entries = doc.get(("monitoring", "drift"), []) if doc is not None else []
    for i, entry in enumerate(entries if isinstance(entries, list) else []):
        if isinstance(entry, dict) and entry.get("method") == method:
            cols = entry.get("columns") or []
            if column in cols:
                return ("monitoring", "drift", i, "columns", cols.index(column))
    return ("monitoring", "drift")
