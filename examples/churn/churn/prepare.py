"""Split the customers export into a training set and a holdout set (stratified, seeded)."""

from __future__ import annotations

import argparse

import numpy as np

from churn.data import labels, read_rows, write_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--input", required=True)
    ap.add_argument("--train-out", required=True)
    ap.add_argument("--holdout-out", required=True)
    ap.add_argument("--holdout-fraction", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rows = read_rows(args.input)
    y = labels(rows)
    rng = np.random.default_rng(args.seed)
    holdout = set()
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        holdout.update(idx[: round(len(idx) * args.holdout_fraction)].tolist())
    columns = list(rows[0])
    write_rows(args.train_out, [r for i, r in enumerate(rows) if i not in holdout], columns)
    write_rows(args.holdout_out, [r for i, r in enumerate(rows) if i in holdout], columns)
    print(f"{len(rows) - len(holdout)} training rows, {len(holdout)} holdout rows")


if __name__ == "__main__":
    main()
