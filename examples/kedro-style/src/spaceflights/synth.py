"""Writes the raw spaceflights tables (companies, shuttles, reviews): a deterministic synthetic
stand-in for Kedro's tutorial data, in the same shapes (percent strings, t/f flags, prices with $)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

OUT = Path("data/01_raw")


def main() -> None:
    rng = random.Random(11)
    OUT.mkdir(parents=True, exist_ok=True)
    companies = []
    with (OUT / "companies.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "company_rating", "iata_approved"])
        for i in range(60):
            rating = rng.randint(50, 100)
            companies.append((i, rating))
            w.writerow([i, f"{rating}%", rng.choice("tf")])
    with (OUT / "shuttles.csv").open("w", newline="", encoding="utf-8") as fh, \
            (OUT / "reviews.csv").open("w", newline="", encoding="utf-8") as rh:
        w, r = csv.writer(fh), csv.writer(rh)
        w.writerow(["id", "company_id", "engines", "passenger_capacity", "crew", "d_check_complete",
                    "moon_clearance_complete", "price"])
        r.writerow(["shuttle_id", "review_scores_rating"])
        for i in range(400):
            company, rating = companies[rng.randrange(len(companies))]
            engines, capacity, crew = rng.randint(1, 4), rng.randint(2, 12), rng.randint(1, 6)
            checked, cleared = rng.random() < 0.5, rng.random() < 0.5
            score = rng.randint(60, 100)
            price = (800 + 300 * engines + 120 * capacity + 40 * crew + 150 * checked + 6 * rating
                     + 5 * score + rng.gauss(0, 120))
            w.writerow([i, company, engines, capacity, crew, "tf"[not checked], "tf"[not cleared], f"${price:,.2f}"])
            r.writerow([i, score])


if __name__ == "__main__":
    main()
