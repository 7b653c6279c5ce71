"""Projects the report tests share: a drift project with a hostile column name, a gate project."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HOSTILE = "<script>alert(1)</script>"
EPOCH = "1767225600"             # 2026-01-01T00:00:00Z

DRIFT_SPEC = """\
mlspec: 1
project: {name: reports}
data:
  ref: {uri: ref.parquet, role: reference, version: snapshot-7}
  cur: {uri: cur.parquet, role: live, version: day-2026-01-01}
training: {run: "true", outputs: {model: m.bin}}
monitoring:
  reference: data.ref
  current: data.cur
  drift:
    - {columns: [amount, "<script>alert(1)</script>"], method: psi, threshold: 0.2}
    - {columns: [plan], method: chi2, threshold: 0.01, severity: critical}
    - {columns: [age], method: ks, threshold: 0.001}
  alerts: [{channel: slack, to: "#x"}]
"""
# Most severe first: plan (drifted, critical), amount (drifted, warning), then the columns
# that did not drift in spec order.
DRIFT_ORDER = ["plan", "amount", HOSTILE, "age"]


def drift_tables(n: int = 4000, seed: int = 3) -> tuple[pa.Table, pa.Table]:
    rng = np.random.default_rng(seed)

    def table(shift: float, plans: list[str], probs: list[float], nulls: float) -> pa.Table:
        amount = rng.normal(50 + shift, 10, n)
        mask = rng.random(n) < nulls
        return pa.table({
            "amount": pa.array(amount, mask=mask),
            HOSTILE: rng.normal(0, 1, n),
            "plan": rng.choice(plans, n, p=probs),
            "age": rng.integers(18, 40, n),
        })

    ref = table(0, ["monthly", "yearly", "two_year"], [0.5, 0.3, 0.2], 0.0)
    cur = table(12, ["monthly", "yearly", "two_year", "weekly"], [0.7, 0.1, 0.1, 0.1], 0.05)
    return ref, cur


def write_drift_project(root: Path, n: int = 4000, *, shuffle_seed: int | None = None) -> None:
    (root / "mlproject.yaml").write_text(DRIFT_SPEC, encoding="utf-8")
    ref, cur = drift_tables(n)
    if shuffle_seed is not None:       # the same rows in another order
        rng = np.random.default_rng(shuffle_seed)
        ref = ref.take(pa.array(rng.permutation(ref.num_rows)))
        cur = cur.take(pa.array(rng.permutation(cur.num_rows)))
    pq.write_table(ref, root / "ref.parquet")
    pq.write_table(cur, root / "cur.parquet")


GATE_SPEC = """\
mlspec: 1
project: {name: reports}
training: {run: "true", outputs: {model: m.bin}}
validation:
  run: "true"
  metrics: metrics/eval.json
  gates:
    - {metric: roc_auc, min: 0.75}
    - {metric: p95_latency_ms, max: 100}
    - {metric: roc_auc, baseline: production, max_regression: 0.01}
registry: {backend: local}
"""


def tiny_png() -> bytes:
    """A real 2×2 PNG (what an evaluation script writes for a plot)."""
    import struct
    import zlib

    raw = b"".join(b"\x00" + bytes([200, 30, 30] * 2) for _ in range(2))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_gate_project(root: Path, auc: float = 0.82, production_auc: float = 0.84) -> None:
    (root / "mlproject.yaml").write_text(GATE_SPEC, encoding="utf-8")
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics/eval.json").write_text(json.dumps({"roc_auc": auc, "p95_latency_ms": 42.0,
                                                        "slices": {"new_customers": {"roc_auc": 0.7}}}))
    (root / "baseline.json").write_text(json.dumps({"roc_auc": production_auc, "p95_latency_ms": 40.0}))
    (root / "roc.png").write_bytes(tiny_png())
    (root / "slices.csv").write_text(f"slice,auc\n{HOSTILE},0.7\n", encoding="utf-8")
