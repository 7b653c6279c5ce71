"""Find values that look like credentials, without ever printing them.

Every string of the spec — every value and every key, in every section (extensions
``x-…`` aside, which reach no artifact) — goes through :func:`classify`. Five detectors, in
order; the first that fires names the finding:

1. **Provider patterns**: token formats that identify themselves (AWS key ids, GitHub,
   GitLab, Slack, Stripe, OpenAI, Anthropic, Hugging Face, npm, PyPI, SendGrid, Twilio,
   Square, Telegram, Discord, Mailchimp, Azure storage keys, JWTs, private-key headers).
   The list follows detect-secrets' provider plugins (v1.5) plus the ones it lacks.
2. **Credentials in a URI**: ``scheme://user:password@host`` with *any* characters in the
   password (``/`` and ``$`` included — they are not legal there, but people paste them),
   and a long token used as the user (``https://<token>@host``).
3. **Secret query parameters**: ``?token=…``, ``&aws_secret_access_key=…``, ``sig=…``.
4. **Assignments to a secret name** in free text (run commands, test commands):
   ``AWS_SECRET_ACCESS_KEY=…``, ``API_TOKEN=…``, ``--password …``; and a value stored under
   a map key with such a name (``environment.env.DB_PASSWORD: …``). A name is a secret's
   when its last word is one (``…_TOKEN``, ``…_PASSWORD``, ``…_SECRET``, ``API_KEY``,
   ``…_ACCESS_KEY``…), so ``max_tokens_per_request`` or ``TOKEN_LIMIT`` are not.
5. **High-entropy tokens** anywhere (a 40-character cloud key pasted into a description):
   20+ characters of base64/base64url, mixing upper case, lower case and digits, with a
   Shannon entropy of at least 4 bits per character. Hex digests (git SHAs, ``sha256:…``),
   UUIDs, paths and words never qualify: they miss a character class or the entropy.

References are never findings: ``${params.x}``, ``${NAME}``, ``$NAME``, ``$(cmd)``.

Why not detect-secrets itself: measured on the reproductions above, its plugins found 2 of
8 (its entropy plugins only look at whole quoted strings, its basic-auth pattern stops at
``/`` and ``$``), its ``IPPublicDetector`` flags an ordinary ``http://203.0.113.9:9091``,
and it would add ``requests``, process-global settings and ~0.25 s of import to every
``validate``. It is kept as a test oracle instead: the test suite checks that everything
its plugins find in a corpus, this module finds too.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

from mlspec.diagnostics import SpecPath

_PROVIDERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(rx)) for name, rx in (
        ("an AWS access key", r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b"),
        ("a GitHub token", r"\b(?:gh[pousr]_[A-Za-z0-9_]{36,}|github_pat_[A-Za-z0-9_]{22,})"),
        ("a GitLab token", r"\b(?:glpat|gldt|glft|glsoat|glrt|glptt|gloas|glimt|glagent)-[A-Za-z0-9_-]{20,}"),
        ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}"),
        ("a Slack webhook URL", r"hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+"),
        ("a private key", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|PuTTY-User-Key-File-\d"),
        ("a JSON web token", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
        ("an Anthropic API key", r"\bsk-ant-[A-Za-z0-9_-]{20,}"),
        ("an OpenAI API key", r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}"),
        ("a Stripe key", r"\b(?:sk|rk)_live_[0-9a-zA-Z]{20,}"),
        ("a Google API key", r"\bAIza[0-9A-Za-z_-]{35}\b"),
        ("a Hugging Face token", r"\bhf_[A-Za-z]{34}\b"),
        ("an npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
        ("a PyPI token", r"\bpypi-AgE[A-Za-z0-9_-]{20,}"),
        ("a SendGrid key", r"\bSG\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9_-]{43}\b"),
        ("a Twilio key", r"\b(?:AC|SK)[a-f0-9]{32}\b"),
        ("a Square OAuth secret", r"\bsq0csp-[0-9A-Za-z_-]{43}\b"),
        ("a Telegram bot token", r"\b\d{8,10}:[0-9A-Za-z_-]{35}\b"),
        ("a Discord bot token", r"\b[MNO][a-zA-Z\d_-]{23,25}\.[a-zA-Z\d_-]{6}\.[a-zA-Z\d_-]{27}\b"),
        ("a Mailchimp key", r"\b[0-9a-f]{32}-us[0-9]{1,2}\b"),
        ("an Azure storage key", r"AccountKey=[A-Za-z0-9+/=]{40,}"),
        ("an Azure SAS signature", r"[?&]sig=[A-Za-z0-9%+/=]{20,}"),
    )
)

# A word naming a secret, as the last word of a name (split at _ - . and case changes).
_SECRET_WORDS = frozenset({"secret", "secrets", "token", "tokens", "password", "passwd", "pwd", "pass",
                           "passphrase", "credential", "credentials", "creds", "apikey", "auth", "privatekey",
                           "accesskey", "secretkey", "sig", "signature"})
# `…_KEY` is a secret after these words: API_KEY, ACCESS_KEY, SECRET_KEY, PRIVATE_KEY, …
_KEY_OWNERS = frozenset({"api", "access", "secret", "private", "signing", "master", "client", "account",
                         "shared", "encryption", "license", "service", "storage", "subscription", "app"})
_REFERENCE = re.compile(r"^(?:\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\([^)]*\)|<[^>]*>|\*+|x+|\.\.\.)$")
_ASSIGNMENT = re.compile(
    r"(?:^|[\s;&|(`\"'{,])(--?)?([A-Za-z_][A-Za-z0-9_.-]*)[\"']?(=|\s*:=\s*|\s*[:=]\s+|\s+=\s*|\s+)"
    r"(\"[^\"]*\"|'[^']*'|[^\s;&|)`\"',}]+)")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(\S+)")
_HOST_AFTER_AT = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::\d{1,5})?(?=[/?#]|$)")
_QUERY = re.compile(r"[?&#;]([A-Za-z0-9_.-]+)=([^&#\s]*)")
_TOKEN = re.compile(r"[A-Za-z0-9+/_=-]{20,}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_WORD_SPLIT = re.compile(r"[_.\-]+|(?<=[a-z0-9])(?=[A-Z])")
# Cheap filters that let almost every string skip the detectors (each detector still decides).
# Every provider pattern above needs 15 characters of [A-Za-z\d_-] in a row (\d: any Unicode
# digit, as in the patterns) or one of these literals (a property test holds the list to
# that); a secret's name holds one of the words below (every word of _SECRET_WORDS, and
# `key`, contains one).
_MAYBE_PROVIDER = re.compile(
    r"[A-Za-z\d_-]{15}|eyJ|-----BEGIN|PuTTY-User-Key-File-|hooks\.slack\.com/|AccountKey=|sig=")
# (Matched against the lower-cased text, as secret_name lower-cases words: faster than a
# case-insensitive pattern.)
_NAME_WORD = re.compile(r"secret|token|pass|pwd|cred|auth|key|sig")
# What any other detector needs, in one pattern: most strings of a spec have neither this nor
# a secret's word and skip every detector (a 15-character run covers the 20 of a random token).
_MAYBE_ANY = re.compile(
    r"[A-Za-z\d+/_=-]{15}|eyJ|-----BEGIN|PuTTY-User-Key-File-|hooks\.slack\.com/|AccountKey=|://|[?&]")


def _has_secret_word(text: str) -> bool:
    """Whether ``text`` holds a word that may end a secret's name (a filter: see secret_name)."""
    return _NAME_WORD.search(text.lower()) is not None


def _may_hold_secret(text: str) -> bool:
    """False when no detector but the map-key one can fire on ``text`` (most strings)."""
    return _MAYBE_ANY.search(text) is not None or _has_secret_word(text)


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def secret_name(name: str) -> bool:
    """Whether ``name`` (an env var, a map key, an option, a query parameter) names a secret."""
    words = [w.lower() for w in _WORD_SPLIT.split(name) if w]
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_WORDS:
        return True
    return last == "key" and len(words) > 1 and words[-2] in _KEY_OWNERS


def _is_reference(value: str) -> bool:
    """``${NAME}``, ``$NAME``, ``$(cmd)``, ``<placeholder>``, ``***``: not a literal secret."""
    return bool(_REFERENCE.match(value)) or value.startswith("${") or value.startswith("$")


def _literal(value: str) -> str | None:
    """The secret-candidate text of an assigned value, or None for references and trivia."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    if _is_reference(value) or value.startswith("-"):
        return None
    if len(value) < 8 or value.isdigit() or value.lower() in ("true", "false", "none", "null", "required"):
        return None
    return value


def _class(c: str) -> int:
    return 0 if c.islower() else 1 if c.isupper() else 2 if c.isdigit() else 3


def _looks_random(token: str) -> bool:
    """Random base64-ish text, not a word, path or identifier.

    Three tests: every character class (lower, upper, digit); a Shannon entropy near the
    maximum for the length (4 bits, less for short tokens); and frequent switches between
    classes — in random base64 about 2 of 3 neighbours differ in class, in words, paths
    and CamelCase names (``models/ResNet50/Checkpoint2024``) about 1 in 3. On random
    base64 this misses 7% of 20-character tokens and under 1% of 40-character ones.
    """
    if _HEX.fullmatch(token):
        return False                 # git SHAs, digests, hex ids: hashes, not keys
    if not (any(c.islower() for c in token) and any(c.isupper() for c in token) and any(c.isdigit() for c in token)):
        return False
    if entropy(token) < min(4.0, 0.8 * math.log2(len(token))):
        return False
    switches = sum(_class(a) != _class(b) for a, b in zip(token, token[1:]))
    return switches / (len(token) - 1) >= 0.45


def _uri_credentials(value: str) -> str | None:
    for match in _URI.finditer(value):
        rest = match.group(1)
        # The userinfo ends at the last '@' that is followed by a host name; the password
        # may hold anything, '/' and '$' included.
        at = next((i for i in range(len(rest) - 1, -1, -1)
                   if rest[i] == "@" and _HOST_AFTER_AT.match(rest, i + 1)), None)
        if at is None:
            continue
        userinfo = rest[:at]
        user, colon, password = userinfo.partition(":")
        if "/" in user and not colon:
            continue                 # s3://bucket/path@v2: an '@' in a path, not a userinfo
        if colon and password and not _is_reference(password):
            return "a password in a URI"
        if not colon and len(user) >= 16 and _looks_random(user):
            return "a token in a URI"
    return None


def _query_secret(value: str) -> str | None:
    if "?" not in value and "&" not in value:
        return None
    for name, raw in _QUERY.findall(value):
        if secret_name(name) or name.lower() in ("key", "access_token", "client_secret"):
            if _literal(raw) is not None:
                return "a secret in a URL query"
    return None


def _assignment(value: str) -> str | None:
    """``NAME=value`` (shell), ``--name value`` / ``--name=value`` (options) and, in prose or
    config text, ``name: value`` / ``name = value`` — where the name is a secret's."""
    for dashes, name, sep, raw in _ASSIGNMENT.findall(value):
        if not secret_name(name):
            continue
        literal = _literal(raw)
        if literal is None:
            continue
        if dashes:
            return "a secret on a command line"
        if sep == "=":
            return "a secret assigned in a command"
        if sep.strip() and _secret_shaped(literal):
            return "a secret assigned in text"   # `password: x1y2…`, not `auth: managed-identity`
    return None


def _secret_shaped(value: str) -> bool:
    """A digit, or both cases, or a symbol: what a password or key has and a word has not."""
    return (any(c.isdigit() for c in value) or (any(c.islower() for c in value) and any(c.isupper() for c in value))
            or any(not c.isalnum() and c not in "-_." for c in value))


@lru_cache(maxsize=8192)   # pure; specs repeat keys and short values thousands of times
def classify(value: str, key: str | None = None) -> str | None:
    """What kind of credential ``value`` looks like, or None.

    ``key`` is the map key the value is stored under in a free-form map (``env``,
    ``params``, ``labels``): a literal under a secret's name is a secret.
    """
    if key is None and not _may_hold_secret(value):
        return None
    if _MAYBE_PROVIDER.search(value):
        for name, rx in _PROVIDERS:   # the first in the list names it
            if rx.search(value):
                return name
    found = (("://" in value and _uri_credentials(value)) or _query_secret(value)
             or (_has_secret_word(value) and _assignment(value)))
    if found:
        return found
    if key is not None and secret_name(key) and " " not in value.strip() and _literal(value) is not None:
        return "a secret (its key names one)"
    if any(_looks_random(t) for t in _TOKEN.findall(value)):
        return "a high-entropy token"
    return None


_FREE_FORM_MAPS = frozenset({"env", "params", "labels"})


def scan(data: Any) -> Iterator[tuple[SpecPath, str, bool]]:
    """Yield ``(path, kind, is_key)`` for every string in ``data`` — values and keys — that
    looks like a credential."""
    strings: list[tuple[SpecPath, str, bool]] = []
    stack: list[tuple[SpecPath, Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(k, str):
                    strings.append(((*path, k), k, True))
                stack.append(((*path, k), v))
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
        elif isinstance(node, str):
            strings.append((path, node, False))
    return scan_strings(strings)


def scan_strings(strings: Iterable[tuple[SpecPath, str, bool]]) -> Iterator[tuple[SpecPath, str, bool]]:
    """:func:`scan` over ``(path, text, is_key)`` already collected (the rules share one walk)."""
    for path, text, is_key in strings:
        key = None
        if not is_key and len(path) >= 2 and path[-2] in _FREE_FORM_MAPS and isinstance(path[-1], str):
            key = path[-1]
        if key is None and not _may_hold_secret(text):
            continue   # classify's first test, without the call and its cache (most strings end here)
        kind = classify(text, key)
        if kind:
            yield path, kind, is_key
