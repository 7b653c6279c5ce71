"""Keyword retrieval over the knowledge base's facts (``- key: value`` lines in Markdown files)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

STOPWORDS = frozenset("a an and are be can do does for how i in is it long many much of on or the to what "
                      "which who why will with you your".split())


def tokens(text: str) -> set[str]:
    """Lower-case words without stopwords, plural 's' removed (a deliberately small stemmer)."""
    words = re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower())
    return {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words if w not in STOPWORDS}


def load_facts(folder: Path) -> list[dict[str, str]]:
    facts = []
    for path in sorted(folder.glob("*.md")):
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.fullmatch(r"\s*-\s*([^:]+):\s*(.+?)\s*", line)
            if m:
                facts.append({"key": m.group(1), "value": m.group(2), "source": path.name})
    return facts


def search(index: dict[str, Any], question: str, k: int = 3) -> list[dict[str, str]]:
    """The ``k`` facts whose key shares most words with the question (ties: knowledge-base order)."""
    q = tokens(question)
    scored = [(len(q & set(f["tokens"])), -i, f) for i, f in enumerate(index["facts"])]
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [f for score, _, f in scored[:k] if score > 0]


def read_index(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))
