"""The data-processing pipeline's nodes, one command each: `python -m spaceflights.data_processing NODE`."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

RAW, INTERMEDIATE, PRIMARY = Path("data/01_raw"), Path("data/02_intermediate"), Path("data/03_primary")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _flag(v: str) -> int:
    return int(v == "t")


def preprocess_companies() -> None:
    _write(INTERMEDIATE / "preprocessed_companies.csv",
           [{"id": r["id"], "company_rating": float(r["company_rating"].rstrip("%")) / 100,
             "iata_approved": _flag(r["iata_approved"])} for r in _read(RAW / "companies.csv")])


def preprocess_shuttles() -> None:
    _write(INTERMEDIATE / "preprocessed_shuttles.csv",
           [{**r, "d_check_complete": _flag(r["d_check_complete"]),
             "moon_clearance_complete": _flag(r["moon_clearance_complete"]),
             "price": float(r["price"].lstrip("$").replace(",", ""))} for r in _read(RAW / "shuttles.csv")])


def create_model_input_table() -> None:
    companies = {r["id"]: r for r in _read(INTERMEDIATE / "preprocessed_companies.csv")}
    reviews = {r["shuttle_id"]: r for r in _read(RAW / "reviews.csv")}
    rows = []
    for s in _read(INTERMEDIATE / "preprocessed_shuttles.csv"):
        c, rv = companies.get(s["company_id"]), reviews.get(s["id"])
        if c and rv:
            rows.append({**s, "company_rating": c["company_rating"], "iata_approved": c["iata_approved"],
                         "review_scores_rating": rv["review_scores_rating"]})
    _write(PRIMARY / "model_input_table.csv", rows)


if __name__ == "__main__":
    {"preprocess_companies": preprocess_companies, "preprocess_shuttles": preprocess_shuttles,
     "create_model_input_table": create_model_input_table}[sys.argv[1]]()
