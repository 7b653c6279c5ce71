"""Answer eval cases: ``python -m assistant.answer --cases CASES.jsonl --prompt PROMPT.md --out OUT.jsonl``.

Each case's question retrieves the top facts from the index; the prompt plus those facts is the
system message, the question the user message. One output line per case: ``id``, ``output`` and
the usage mlspec checks against the budgets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from assistant.llm import chat
from assistant.retrieval import read_index, search


def messages(prompt: str, facts: list[dict[str, str]], question: str) -> list[dict[str, str]]:
    context = "\n".join(f"- {f['key']}: {f['value']}" for f in facts) or "(nothing found)"
    return [{"role": "system", "content": f"{prompt.strip()}\n\nContext:\n{context}"},
            {"role": "user", "content": question}]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=Path, required=True)
    ap.add_argument("--prompt", type=Path, required=True)
    ap.add_argument("--index", type=Path, default=Path("build/index.json"))
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--k", type=int, default=3)
    args = ap.parse_args()
    index, prompt = read_index(args.index), args.prompt.read_text(encoding="utf-8")
    lines = []
    for raw in args.cases.read_text(encoding="utf-8").splitlines():
        if raw.strip():
            case = json.loads(raw)
            lines.append(json.dumps({"id": case["id"], **chat(messages(prompt, search(index, case["input"], args.k),
                                                                       case["input"]))}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"answered {len(lines)} cases into {args.out}")


if __name__ == "__main__":
    main()
