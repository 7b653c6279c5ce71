"""TF-IDF features of the prepared posts (params: featurize.max_features, featurize.ngrams)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import joblib
from sklearn.feature_extraction.text import TfidfVectorizer

from src.params import load


def _read(path: Path) -> tuple[list[str], list[int]]:
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [int(r["is_python"]) for r in rows]


def main() -> None:
    in_dir, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    p = load("featurize")
    vec = TfidfVectorizer(max_features=p["max_features"], ngram_range=(1, p["ngrams"]))
    train_x, train_y = _read(in_dir / "train.csv")
    test_x, test_y = _read(in_dir / "test.csv")
    out_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump((vec.fit_transform(train_x), train_y), out_dir / "train.pkl")
    joblib.dump((vec.transform(test_x), test_y), out_dir / "test.pkl")


if __name__ == "__main__":
    main()
