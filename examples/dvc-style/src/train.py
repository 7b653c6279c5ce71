"""A random forest on the features (params: train.seed, train.n_est, train.min_split)."""

from __future__ import annotations

import sys
from pathlib import Path

import joblib
from sklearn.ensemble import RandomForestClassifier

from src.params import load


def main() -> None:
    features, model_out = Path(sys.argv[1]), Path(sys.argv[2])
    p = load("train")
    x, y = joblib.load(features)
    clf = RandomForestClassifier(n_estimators=p["n_est"], min_samples_split=p["min_split"], n_jobs=1,
                                 random_state=p["seed"])
    clf.fit(x, y)
    model_out.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(clf, model_out)


if __name__ == "__main__":
    main()
