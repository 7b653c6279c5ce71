"""Generate the example's synthetic data: ``python -m churn.synth``.

This stands in for the warehouse export a real project would read. Its output is
committed (``data/customers.csv``, ``monitoring/current.csv``) so that the pipeline's
first node, ``mlspec check-data``, has a real input to check before anything runs;
re-running it with the same seed writes the same rows.

``--drift`` shifts the population the way a marketing campaign would: many new,
month-to-month customers paying more. That sample is what monitoring compares with the
training data.
"""

from __future__ import annotations

import argparse

import numpy as np

from churn import CONTRACTS
from churn.data import write_rows

COLUMNS = ["customer_id", "tenure_months", "monthly_charges", "contract", "churned"]


def customers(n: int, seed: int, drift: bool = False, id_offset: int = 0) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    if drift:
        contract_p, tenure_scale, charge_mean = (0.8, 0.12, 0.08), 8.0, 82.0
    else:
        contract_p, tenure_scale, charge_mean = (0.55, 0.25, 0.20), 24.0, 65.0
    rows = []
    for i in range(n):
        contract = CONTRACTS[rng.choice(3, p=contract_p)]
        tenure = int(min(72, rng.exponential(tenure_scale)))
        charges = float(np.clip(rng.normal(charge_mean, 22.0), 18.0, 120.0))
        logit = 0.9 - 0.07 * tenure + 0.025 * (charges - 65.0) + {"monthly": 0.9, "yearly": -0.7, "two_year": -1.8}[contract]
        churned = rng.random() < 1.0 / (1.0 + np.exp(-logit))
        rows.append({"customer_id": f"c{id_offset + i:05d}", "tenure_months": tenure,
                     "monthly_charges": f"{charges:.2f}", "contract": contract,
                     "churned": "true" if churned else "false"})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--drift", action="store_true", help="generate the drifted production sample")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    rows = customers(args.rows, args.seed, drift=args.drift, id_offset=50000 if args.drift else 0)
    write_rows(args.out, rows, COLUMNS)
    print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
