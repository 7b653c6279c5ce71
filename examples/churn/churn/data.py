"""Reading the example's CSV files and turning rows into model features (stdlib csv + numpy)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from churn import CONTRACTS, LABEL


def read_rows(path: str | Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: str | Path, rows: list[dict[str, object]], columns: list[str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def features(rows: list[dict[str, str]]) -> np.ndarray:
    """Numeric matrix: tenure, charges, then one-hot contract (fixed column order)."""
    out = np.zeros((len(rows), 2 + len(CONTRACTS)))
    for i, r in enumerate(rows):
        out[i, 0] = float(r["tenure_months"])
        out[i, 1] = float(r["monthly_charges"])
        out[i, 2 + CONTRACTS.index(r["contract"])] = 1.0
    return out


def labels(rows: list[dict[str, str]]) -> np.ndarray:
    return np.array([r[LABEL] == "true" for r in rows], dtype=int)
