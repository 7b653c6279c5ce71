"""Fuzz targets: bytes in, and any exception other than the documented refusal is a bug.

Each target takes arbitrary bytes and drives one reader of user input the way the CLI
does: the spec loader (and everything after it up to the Plan), the metrics JSON reader
and the gates, the CSV reader and the column contract, the monitoring state and the
retrain decision. A target returns normally for any input; the documented refusal of bad
input (a diagnostic, a :class:`~mlspec.runtime.common.Failure`) is a normal return.

Used by the coverage-guided fuzzer (``tests/fuzz/atheris_main.py``) and by the hypothesis
fallback in ``tests/fuzz/test_coverage_fuzz.py``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

_SCRATCH = Path(tempfile.mkdtemp(prefix="mlspec-fuzz-"))


def _file(name: str, data: bytes) -> Path:
    path = _SCRATCH / name
    tmp = _SCRATCH / (name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path


def fuzz_loader(data: bytes) -> None:
    """Spec bytes -> Document -> Spec -> rules -> Plan: diagnostics only, never an exception."""
    from mlspec import diagnostics as dx
    from mlspec.compiler.resolve import resolve_plan
    from mlspec.language.loader import load_text
    from mlspec.language.rules import check_rules
    from mlspec.language.validate import validate_spec

    doc, diags = load_text(data)
    if doc is not None:
        spec, more = validate_spec(doc)
        diags = [*diags, *more]
        if spec is not None:
            diags += check_rules(spec, doc)
            _, more = resolve_plan(spec, doc)
            diags += more
    for d in diags:
        assert d.code in dx.CODES and d.code != dx.INTERNAL, d
        assert d.span is None or (d.span.line >= 1 and d.span.column >= 1), d


_GATES = None


def _gates():  # type: ignore[no-untyped-def]
    global _GATES
    if _GATES is None:
        from mlspec.compiler.plan import Gate

        _GATES = [Gate("roc_auc", 0.8, None, None, None, True, None, "roc_auc_min"),
                  Gate("p95_latency_ms", None, 50.0, None, None, False, None, "p95_max"),
                  Gate("roc_auc", None, None, "production", 0.01, True, None, "roc_auc_baseline")]
    return _GATES


def fuzz_metrics(data: bytes) -> None:
    """A metrics file as `mlspec gate` reads it, evaluated against gates, also as a baseline."""
    from mlspec.runtime import gates as g
    from mlspec.runtime.common import Failure

    try:
        metrics = g.read_metrics(_file("metrics.json", data), "metrics.json")
    except Failure:
        return
    baseline = g.Baseline("baseline.json", metrics, True)
    for i, gate in enumerate(_gates()):
        r = g.evaluate(gate, i, metrics, baseline)
        r.to_json()
        if not r.passed and r.problem is None:
            g.failure_text(r)


_COLUMNS = None


def _columns():  # type: ignore[no-untyped-def]
    global _COLUMNS
    if _COLUMNS is None:
        from mlspec.compiler.plan import Column

        _COLUMNS = (Column("id", "string", False, None, None, None, True),
                    Column("n", "integer", True, 0.0, 100.0, None, False),
                    Column("x", "float", True, None, None, None, False),
                    Column("c", "category", True, None, None, ("a", "b", "1"), False),
                    Column("b", "boolean", True, None, None, None, False),
                    Column("t", "datetime", True, None, None, None, False),
                    Column("d", "date", True, None, None, None, False))
    return _COLUMNS


def fuzz_csv(data: bytes) -> None:
    """A CSV file (header and rows) through the data reader and the column contract."""
    from mlspec.runtime import contract
    from mlspec.runtime.common import Failure
    from mlspec.runtime.data import Location, read_table

    path = _file("data.csv", data)
    try:
        table = read_table(Location("data.csv", str(path), None, "csv", True),
                           string_columns=contract.string_columns(_columns()))
    except Failure:
        return
    reports, _ = contract.check_table(table, _columns())
    for rep in reports:
        rep.to_json()
        contract.describe(rep, next(c for c in _columns() if c.name == rep.name))


def fuzz_state(data: bytes) -> None:
    """Monitoring state files (the same bytes as retrain.json and drift.json) -> the decision."""
    from mlspec.runtime import monitor

    state = _SCRATCH / "state"
    state.mkdir(exist_ok=True)
    half = len(data) // 2
    _file("state/retrain.json", data[:half] if data[:1] == b"{" and half else data)
    _file("state/drift.json", data[half:] or data)
    decision = monitor.decide(("data_drift", "concept_drift"), 3600, state, now=1_700_000_000.0)
    assert isinstance(decision["trigger"], bool)
    import json

    json.dumps(decision, allow_nan=False)   # what retrain-trigger prints must be strict JSON


TARGETS: dict[str, Callable[[bytes], None]] = {
    "loader": fuzz_loader, "metrics": fuzz_metrics, "csv": fuzz_csv, "state": fuzz_state,
}
