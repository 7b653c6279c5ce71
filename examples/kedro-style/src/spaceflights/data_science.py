"""The data-science pipeline's nodes: `python -m spaceflights.data_science NODE` (split_data,
train_model, evaluate_model); parameters from conf/base/parameters.yml (model_options)."""

from __future__ import annotations

import csv
import json
import random
import sys
from pathlib import Path

import joblib
import numpy as np
import yaml
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, r2_score

PRIMARY, MODEL_INPUT = Path("data/03_primary"), Path("data/05_model_input")
MODEL, REPORTING = Path("data/06_models/regressor.pickle"), Path("data/08_reporting")


def options() -> dict:
    return yaml.safe_load(Path("conf/base/parameters.yml").read_text(encoding="utf-8"))["model_options"]


def _xy(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    features = options()["features"]
    return (np.array([[float(r[f]) for f in features] for r in rows]), np.array([float(r["price"]) for r in rows]))


def split_data() -> None:
    o = options()
    with (PRIMARY / "model_input_table.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    random.Random(o["random_state"]).shuffle(rows)
    n_test = int(len(rows) * o["test_size"])
    MODEL_INPUT.mkdir(parents=True, exist_ok=True)
    for name, part in (("test.csv", rows[:n_test]), ("train.csv", rows[n_test:])):
        with (MODEL_INPUT / name).open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(part)


def train_model() -> None:
    x, y = _xy(MODEL_INPUT / "train.csv")
    MODEL.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(LinearRegression().fit(x, y), MODEL)


def evaluate_model() -> None:
    x, y = _xy(MODEL_INPUT / "test.csv")
    predicted = joblib.load(MODEL).predict(x)
    REPORTING.mkdir(parents=True, exist_ok=True)
    metrics = {"r2_score": round(float(r2_score(y, predicted)), 6),
               "mae": round(float(mean_absolute_error(y, predicted)), 3)}
    (REPORTING / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    {"split_data": split_data, "train_model": train_model, "evaluate_model": evaluate_model}[sys.argv[1]]()
