"""Prediction drift: how differently the deployed model scores live customers than the ones it
was trained on, and how much of the live data is missing. A custom monitoring check: it writes
a metrics JSON and mlspec judges it against the bounds in ``monitoring.checks``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import joblib
import numpy as np

from churn.data import features, read_rows

FEATURES = ("tenure_months", "monthly_charges", "contract")


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of two score samples over the reference's deciles."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    ref = np.histogram(reference, edges)[0] / len(reference)
    cur = np.histogram(current, edges)[0] / len(current)
    ref, cur = np.clip(ref, 1e-6, None), np.clip(cur, 1e-6, None)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--current", required=True)
    ap.add_argument("--metrics", required=True)
    args = ap.parse_args()

    model = joblib.load(args.model)
    current_rows = read_rows(args.current)
    cells = [r.get(c) for r in current_rows for c in FEATURES]
    missing = sum(1 for v in cells if v is None or v.strip() == "") / max(len(cells), 1)
    complete = [r for r in current_rows if all((r.get(c) or "").strip() for c in FEATURES)]
    ref_scores = model.predict_proba(features(read_rows(args.reference)))[:, 1]
    cur_scores = model.predict_proba(features(complete))[:, 1]
    metrics = {
        "prediction": {
            "psi": round(psi(ref_scores, cur_scores), 6),
            "positive_rate": round(float(np.mean(cur_scores >= 0.5)), 6),
            "reference_positive_rate": round(float(np.mean(ref_scores >= 0.5)), 6),
        },
        "missing_share": round(missing, 6),
        "rows": len(current_rows),
    }
    Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
    Path(args.metrics).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"prediction drift on {len(current_rows)} rows: {metrics}")


if __name__ == "__main__":
    main()
