"""The one "did you mean" helper of every stage (one cutoff, one folding of names)."""

from __future__ import annotations

import difflib
import unicodedata
from collections.abc import Iterable

# One cutoff everywhere: close enough to be a typo, far enough not to suggest nonsense.
CUTOFF = 0.6


def closest(name: str, choices: Iterable[str], cutoff: float = CUTOFF) -> str | None:
    """The choice closest to ``name``, or None when nothing is close."""
    options = sorted(set(choices))
    if not options:
        return None
    key = _fold(name)
    folded = {_fold(c): c for c in options}
    if key in folded:                      # only case or compatibility forms differ: the right hint
        return folded[key]
    match = difflib.get_close_matches(key, options, n=1, cutoff=cutoff)
    return match[0] if match else None


def _fold(text: str) -> str:
    """Compare names as a person reads them: full-width and ligature forms folded, case ignored."""
    return unicodedata.normalize("NFKC", text).casefold()


def did_you_mean(name: str, choices: Iterable[str], cutoff: float = CUTOFF) -> str | None:
    """A hint ``did you mean 'x'?`` or None."""
    match = closest(name, choices, cutoff)
    return f"did you mean {match!r}?" if match else None
