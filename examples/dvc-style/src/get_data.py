"""Stand-in for `dvc pull`: writes the raw posts (question text and whether it is tagged python).

Deterministic, so every machine that runs the fetch gets the same bytes."""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

PYTHON = ["pandas", "numpy", "django", "flask", "list", "dict", "pip", "venv", "asyncio", "decorator"]
OTHER = ["java", "spring", "maven", "css", "html", "react", "kotlin", "gradle", "sql", "docker"]
COMMON = ["how", "error", "install", "version", "function", "class", "file", "string", "loop", "test"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--rows", type=int, default=1200)
    args = ap.parse_args()
    rng = random.Random(7)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["post_id", "text", "is_python"])
        for i in range(args.rows):
            tagged = rng.random() < 0.4
            vocab = PYTHON if tagged else OTHER
            # Noise, so the task is not trivial: words of either kind, and some posts mis-tagged.
            words = rng.choices(vocab, k=2) + rng.choices(COMMON, k=5) + rng.choices(PYTHON + OTHER, k=3)
            rng.shuffle(words)
            label = tagged if rng.random() > 0.06 else not tagged
            w.writerow([f"p{i:05d}", " ".join(words), int(label)])


if __name__ == "__main__":
    main()
