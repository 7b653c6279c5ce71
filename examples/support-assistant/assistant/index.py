"""Build the retrieval index (the project's "model"): ``python -m assistant.index --knowledge DIR --out FILE``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.retrieval import load_facts, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--knowledge", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    facts = [{**f, "tokens": sorted(tokens(f["key"]))} for f in load_facts(args.knowledge)]
    if not facts:
        raise SystemExit(f"no '- key: value' facts in {args.knowledge}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"facts": facts}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"indexed {len(facts)} facts into {args.out}")


if __name__ == "__main__":
    main()
