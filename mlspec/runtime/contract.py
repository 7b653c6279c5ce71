"""The column contract (``data.<name>.schema``) applied to a table.

Per column, each value is checked once, and counted under the first rule it breaks:

- ``type``: the value is not of the column's type. Text (CSV cells, JSON strings) is parsed:
  integers may be written ``12`` or ``12.0``; floats anything Python's ``float`` reads;
  booleans ``true/false/1/0/yes/no`` (any case); datetimes ISO 8601 (offsets allowed);
  dates ``YYYY-MM-DD``. Typed data (Parquet, JSON numbers) must have a compatible type:
  integers are floats, whole floats are integers, 0/1 integers are booleans, dates are
  datetimes; a string contract refuses numbers and vice versa.
- ``null``: a null (CSV: empty, ``NA``, ``N/A``, ``NULL``, ``null``, ``NaN``; floats: NaN) in a
  column with ``nullable: false``.
- ``min`` / ``max``: a number outside the bounds (integer and float columns).
- ``values``: a value outside the allowed ``values`` (compared as text: ``1`` matches ``"1"``).
- ``unique``: a value that repeats an earlier one (nulls are not compared).

A contract column absent from the data counts one ``missing`` violation. Columns in the
data but not in the contract are reported as ``unexpected``: a warning, an error with
``--strict`` (see docs/runtime.md).
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

RULES = ("missing", "type", "null", "min", "max", "values", "unique")
TRUE = ("true", "1", "yes", "t", "y")
FALSE = ("false", "0", "no", "f", "n")
MAX_EXAMPLES = 3


@dataclass
class ColumnReport:
    name: str
    type: str
    present: bool
    found_type: str | None = None
    rows: int = 0
    nulls: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_json(self) -> dict[str, Any]:
        return {"column": self.name, "type": self.type, "present": self.present, "found_type": self.found_type,
                "rows": self.rows, "nulls": self.nulls, "violations": self.total,
                "by_rule": {k: v for k, v in self.counts.items() if v}, "examples": self.examples}


def describe(c: ColumnReport, col: Any) -> str:
    """``3 values below min 0, 1 value not an integer`` for messages."""
    words = {
        "missing": lambda n: "column is missing",
        "type": lambda n: f"{_n(n)} not {_article(col.type)}",
        "null": lambda n: f"{_n(n, 'null')} but nullable is false",
        "min": lambda n: f"{_n(n)} below min {_num(col.min)}",
        "max": lambda n: f"{_n(n)} above max {_num(col.max)}",
        "values": lambda n: f"{_n(n)} not among the allowed values",
        "unique": lambda n: f"{_n(n, 'duplicate')} but unique is true",
    }
    parts = []
    for rule in RULES:
        n = c.counts.get(rule, 0)
        if n:
            text = words[rule](n)
            if c.examples.get(rule):
                text += f" (e.g. {', '.join(c.examples[rule])})"
            parts.append(text)
    return ", ".join(parts)


def _n(n: int, noun: str = "value") -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _num(v: float | None) -> str:
    from mlspec.runtime.common import num

    return num(v)


def _article(t: str) -> str:
    return {"integer": "an integer", "float": "a number", "boolean": "a boolean", "string": "a string",
            "category": "a category value", "datetime": "an ISO 8601 datetime", "date": "a YYYY-MM-DD date"}[t]


def string_columns(columns: tuple[Any, ...]) -> tuple[str, ...]:
    """Contract columns whose CSV cells must stay text (so ``007`` stays ``007``)."""
    return tuple(c.name for c in columns if c.type in ("string", "category"))


def check_table(table: Any, columns: tuple[Any, ...]) -> tuple[list[ColumnReport], list[str]]:
    """Reports for the contract's columns, and the data's columns the contract does not list."""
    names = list(table.column_names)
    reports = []
    for col in columns:
        if col.name not in names:
            reports.append(ColumnReport(col.name, col.type, False, counts={"missing": 1}))
            continue
        reports.append(check_column(table.column(col.name), col))
    known = {c.name for c in columns}
    unexpected = [n for n in names if n not in known]
    return reports, unexpected


# ------------------------------------------------------------------ one column


def check_column(chunked: Any, col: Any) -> ColumnReport:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = chunked.combine_chunks() if isinstance(chunked, pa.ChunkedArray) else chunked
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    rep = ColumnReport(col.name, col.type, True, found_type=str(arr.type), rows=len(arr))
    if is_nested(arr.type):
        # A list/map/struct column is of no contract type: every value breaks the type rule.
        rep.nulls = arr.null_count
        rep.counts = {k: v for k, v in (("type", len(arr) - arr.null_count),
                                         ("null", 0 if col.nullable else arr.null_count)) if v}
        return rep
    counts = dict.fromkeys(RULES[1:], 0)
    null = np.asarray(arr.is_null(), dtype=bool) if len(arr) else np.zeros(0, bool)
    if pa.types.is_floating(arr.type):
        null = null | np.asarray(pc.fill_null(pc.is_nan(arr), False), dtype=bool)
    parsed, invalid, also_null = _coerce(arr, col.type)
    null = null | also_null
    invalid = invalid & ~null
    rep.nulls = int(null.sum())
    counts["type"] = int(invalid.sum())
    if counts["type"]:
        rep.examples["type"] = _examples(arr, invalid)
    if not col.nullable:
        counts["null"] = rep.nulls
    good = ~(null | invalid)                       # values that are of the right type

    if col.type in ("integer", "float") and (col.min is not None or col.max is not None):
        with np.errstate(invalid="ignore"):
            values = np.where(good, parsed, np.nan)
            below = good & (values < col.min) if col.min is not None else np.zeros(len(arr), bool)
            above = good & (values > col.max) if col.max is not None else np.zeros(len(arr), bool)
        counts["min"], counts["max"] = int(below.sum()), int(above.sum())
        good = good & ~below & ~above

    if col.values is not None:
        text = _as_text(arr, parsed, col.type)
        allowed = pa.array(sorted({_value_text(v) for v in col.values}), pa.string())
        member = np.asarray(pc.fill_null(pc.is_in(text, value_set=allowed), False), dtype=bool)
        outside = good & ~member
        counts["values"] = int(outside.sum())
        if counts["values"]:
            rep.examples["values"] = _examples(arr, outside)
        good = good & ~outside

    if col.unique:
        key = _unique_key(arr, parsed, col.type)
        mask = pa.array(good)
        kept = pc.filter(key, mask)
        counts["unique"] = len(kept) - pc.count_distinct(kept).as_py() if len(kept) else 0

    rep.counts = {k: v for k, v in counts.items() if v}
    return rep


def _coerce(arr: Any, ctype: str) -> tuple[Any, Any, Any]:
    """``(parsed, invalid, extra_null)``: numbers as float64 (numpy; epoch seconds for
    datetimes), a mask of values of the wrong type and a mask of values that read as null
    (NaN text)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(arr)
    t = arr.type
    zeros = np.zeros(n, bool)
    nan = np.full(n, np.nan)
    if n == 0 or pa.types.is_null(t):
        return nan, zeros, zeros
    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
        if ctype in ("string", "category"):
            return nan, zeros, zeros
        return _parse_text(pc.cast(arr, pa.string()), ctype)

    is_int, is_float = pa.types.is_integer(t), pa.types.is_floating(t) or pa.types.is_decimal(t)
    wrong = np.asarray(arr.is_valid(), dtype=bool)           # every non-null value
    if ctype == "integer":
        if is_int:
            return _floats(arr), zeros, zeros
        if is_float:
            f = _floats(arr)
            with np.errstate(invalid="ignore"):
                bad = ~np.isnan(f) & (~np.isfinite(f) | (np.floor(f) != f))
            return f, bad, zeros
        return nan, wrong, zeros
    if ctype == "float":
        return (_floats(arr), zeros, zeros) if (is_int or is_float) else (nan, wrong, zeros)
    if ctype == "boolean":
        if pa.types.is_boolean(t):
            return _floats(pc.cast(arr, pa.int8())), zeros, zeros
        if is_int:
            f = _floats(arr)
            return f, ~np.isnan(f) & (f != 0) & (f != 1), zeros
        return nan, wrong, zeros
    if ctype == "string":
        return nan, wrong, zeros
    if ctype == "category":
        ok = is_int or pa.types.is_boolean(t)
        if is_float:
            f = _floats(arr)
            with np.errstate(invalid="ignore"):
                return f, ~np.isnan(f) & (~np.isfinite(f) | (np.floor(f) != f)), zeros
        return nan, (zeros if ok else wrong), zeros
    if ctype == "datetime":
        if pa.types.is_timestamp(t) or pa.types.is_date(t):
            return _epoch(arr), zeros, zeros
        return nan, wrong, zeros
    if ctype == "date":
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            return _epoch(arr), zeros, zeros
        return nan, wrong, zeros
    raise ValueError(f"unknown column type {ctype!r}")


def _floats(arr: Any) -> Any:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    f = pc.cast(arr, pa.float64(), safe=False)
    return np.asarray(f.to_numpy(zero_copy_only=False), dtype=float)


def _epoch(arr: Any) -> Any:
    import numpy as np

    return np.asarray(epoch_seconds(arr).to_numpy(zero_copy_only=False), dtype=float)


UNIT_SCALE = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}


def epoch_seconds(arr: Any) -> Any:
    """Dates and timestamps (any unit, with or without a time zone) as float64 epoch seconds.

    Timestamps are read as their own unit's integer count and scaled: casting to a coarser
    unit first would refuse pandas' usual nanosecond values (``ArrowInvalid``: it would lose data).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_date(arr.type):
        arr = pc.cast(arr, pa.timestamp("s"))
    unit = arr.type.unit
    ints = pc.cast(pc.cast(arr, pa.timestamp(unit)), pa.int64())
    # Nanosecond counts exceed float64's exact integers: an unsafe cast rounds to the
    # nearest representable value (sub-microsecond), which is what epoch seconds can hold anyway.
    return pc.divide(pc.cast(ints, pa.float64(), safe=False), UNIT_SCALE[unit])


def is_nested(t: Any) -> bool:
    """List, map, struct and union columns: values no contract type describes."""
    import pyarrow as pa

    return bool(pa.types.is_nested(t) or pa.types.is_union(t))


def _parse_text(arr: Any, ctype: str) -> tuple[Any, Any, Any]:
    """Parse text vectorised; on the first unparsable value fall back to one value at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(arr)
    valid = np.asarray(arr.is_valid(), dtype=bool)
    trimmed = pc.utf8_trim_whitespace(arr)
    if ctype == "boolean":
        low = pc.utf8_lower(trimmed)
        t = np.asarray(pc.fill_null(pc.is_in(low, value_set=pa.array(TRUE)), False), dtype=bool)
        f = np.asarray(pc.fill_null(pc.is_in(low, value_set=pa.array(FALSE)), False), dtype=bool)
        return np.where(t, 1.0, np.where(f, 0.0, np.nan)), valid & ~t & ~f, np.zeros(n, bool)
    try:
        if ctype in ("integer", "float"):
            f = np.asarray(pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
            nan_text = valid & np.isnan(f)
            bad = np.zeros(n, bool)
            if ctype == "integer":
                with np.errstate(invalid="ignore"):
                    bad = valid & ~nan_text & (~np.isfinite(f) | (np.floor(f) != f))
            return f, bad, nan_text
        if ctype == "datetime":
            return _epoch(pc.cast(trimmed, pa.timestamp("us"))), np.zeros(n, bool), np.zeros(n, bool)
        if ctype == "date":
            return _epoch(pc.cast(trimmed, pa.date32())), np.zeros(n, bool), np.zeros(n, bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    parse = _PARSERS[ctype]
    out = np.full(n, np.nan)
    bad = np.zeros(n, bool)
    nan_text = np.zeros(n, bool)
    for i, v in enumerate(trimmed.to_pylist()):
        if v is None:
            continue
        x = parse(v)
        if x is None:
            bad[i] = True
        elif isinstance(x, float) and math.isnan(x):
            nan_text[i] = True
        else:
            out[i] = x
    return out, bad, nan_text


def _parse_int(v: str) -> float | None:
    try:
        return float(int(v))
    except ValueError:
        pass
    try:
        f = float(v)
    except ValueError:
        return None
    if math.isnan(f):
        return f
    return f if math.isfinite(f) and f.is_integer() else None


def _parse_float(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def _parse_datetime(v: str) -> float | None:
    try:
        d = _dt.datetime.fromisoformat(v)
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return d.timestamp()


def _parse_date(v: str) -> float | None:
    try:
        d = _dt.date.fromisoformat(v)
    except ValueError:
        return None
    return _dt.datetime(d.year, d.month, d.day, tzinfo=_dt.timezone.utc).timestamp()


_PARSERS = {"integer": _parse_int, "float": _parse_float, "datetime": _parse_datetime, "date": _parse_date}


def _value_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _as_text(arr: Any, parsed: Any, ctype: str) -> Any:
    """Values as text for the ``values`` rule: ``1``, ``1.0`` and ``"1"`` all read ``1``."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return pc.utf8_trim_whitespace(pc.cast(arr, pa.string()))
    if ctype in ("integer", "float", "category") and not np.all(np.isnan(parsed)):
        return pa.array([None if math.isnan(x) else _value_text(float(x)) for x in parsed], pa.string())
    return pc.cast(arr, pa.string())


def _unique_key(arr: Any, parsed: Any, ctype: str) -> Any:
    import numpy as np
    import pyarrow as pa

    if ctype in ("integer", "float", "boolean", "datetime", "date") and len(parsed) and not np.all(np.isnan(parsed)):
        return pa.array(parsed)
    return arr


def _examples(arr: Any, mask: Any) -> list[str]:
    import numpy as np

    out: list[str] = []
    for i in np.flatnonzero(mask)[:1000]:
        text = repr(arr[int(i)].as_py())
        text = text if len(text) <= 40 else text[:37] + "..."
        if text not in out:
            out.append(text)
            if len(out) == MAX_EXAMPLES:
                break
    return out
