"""Split the raw posts into train and test sets (params: prepare.split, prepare.seed)."""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

from src.params import load


def main() -> None:
    raw, out_dir = Path(sys.argv[1]), Path(sys.argv[2])
    p = load("prepare")
    with raw.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(p["seed"])
    rng.shuffle(rows)
    n_test = int(len(rows) * p["split"])
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (("test.csv", rows[:n_test]), ("train.csv", rows[n_test:])):
        with (out_dir / name).open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=["post_id", "text", "is_python"])
            w.writeheader()
            w.writerows(part)


if __name__ == "__main__":
    main()
