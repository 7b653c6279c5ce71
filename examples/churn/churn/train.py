"""Train a random forest on the prepared training set; write the model and training metrics."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import joblib
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import roc_auc_score

from churn.data import features, labels, read_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--n-estimators", type=int, required=True)
    ap.add_argument("--max-depth", type=int, required=True)
    ap.add_argument("--min-samples-leaf", type=int, required=True)
    args = ap.parse_args()

    rows = read_rows(args.data)
    x, y = features(rows), labels(rows)
    seed = int(os.environ.get("MLSPEC_SEED", "0"))  # set by mlspec from training.seed
    model = RandomForestClassifier(n_estimators=args.n_estimators, max_depth=args.max_depth,
                                   min_samples_leaf=args.min_samples_leaf, random_state=seed, n_jobs=1)
    model.fit(x, y)
    Path(args.model).parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, args.model)
    metrics = {"train_roc_auc": round(float(roc_auc_score(y, model.predict_proba(x)[:, 1])), 6),
               "train_rows": len(rows)}
    Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
    Path(args.metrics).write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"trained on {len(rows)} rows: {metrics}")


if __name__ == "__main__":
    main()
