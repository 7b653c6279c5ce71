"""Retrieval quality: recall@1 and recall@3 of each case's source document -> metrics JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.retrieval import read_index, search


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--cases", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    index = read_index(args.index)
    cases = [json.loads(line) for line in args.cases.read_text(encoding="utf-8").splitlines() if line.strip()]
    at1 = at3 = 0
    for case in cases:
        hits = [f["source"] for f in search(index, case["input"], k=3)]
        at1 += bool(hits[:1] == [case["source"]])
        at3 += case["source"] in hits
    metrics = {"recall_at_1": at1 / len(cases), "recall_at_3": at3 / len(cases), "cases": len(cases)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
