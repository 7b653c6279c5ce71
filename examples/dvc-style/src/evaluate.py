"""Metrics in dvclive's nested layout ({"avg_prec": {"train": …, "test": …}, …}) and a
precision-recall plot as JSON points, under eval/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score


def main() -> None:
    model_path, features_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    model = joblib.load(model_path)
    metrics: dict[str, dict[str, float]] = {"avg_prec": {}, "roc_auc": {}}
    out_dir.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        x, y = joblib.load(features_dir / f"{split}.pkl")
        scores = model.predict_proba(x)[:, 1]
        metrics["avg_prec"][split] = round(float(average_precision_score(y, scores)), 6)
        metrics["roc_auc"][split] = round(float(roc_auc_score(y, scores)), 6)
        if split == "test":
            precision, recall, _ = precision_recall_curve(y, scores)
            points = [{"precision": round(float(p), 6), "recall": round(float(r), 6)}
                      for p, r in zip(precision[::10], recall[::10])]
            (out_dir / "prc.json").write_text(json.dumps({"prc": points}, indent=1) + "\n", encoding="utf-8")
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
