"""Evaluate a model on labelled data; write the flat metrics JSON that mlspec's gates read.

Used twice: by the pipeline's validation step (holdout set) and by monitoring's
performance check (the labelled production sample).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import joblib
import numpy as np
from sklearn.metrics import accuracy_score, roc_auc_score

from churn.data import features, labels, read_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--metrics", required=True)
    args = ap.parse_args()

    model = joblib.load(args.model)
    rows = read_rows(args.data)
    x, y = features(rows), labels(rows)
    proba = model.predict_proba(x)[:, 1]
    latencies = []
    for i in range(min(50, len(x))):  # single-row latency, as the online API sees it
        start = time.perf_counter()
        model.predict_proba(x[i:i + 1])
        latencies.append((time.perf_counter() - start) * 1000.0)
    metrics = {
        "roc_auc": round(float(roc_auc_score(y, proba)), 6),
        "accuracy": round(float(accuracy_score(y, proba >= 0.5)), 6),
        "p95_latency_ms": round(float(np.percentile(latencies, 95)), 3),
        "rows": len(rows),
    }
    Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
    Path(args.metrics).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"evaluated on {len(rows)} rows: {metrics}")


if __name__ == "__main__":
    main()
