"""Language-aware encoders: text that one target language reads back as exactly the value.

Every piece of spec text that lands in a generated file goes through exactly one of these
functions (directly, or through the Jinja filters in :mod:`mlspec.output.templating`). Each is a
pure function whose contract is a re-parse oracle, property-tested in
``tests/test_encoders.py``: the target language's own parser, given the output, returns
the input unchanged and as one unit (one literal, one shell word, one Dockerfile word...).
docs/architecture.md ("Output") lists the injection each encoder closes.

Encoders accept the plain data kinds a Document holds (``str``, ``int``, ``float``,
``bool``, ``None``, ``list``/``tuple``, ``dict``) and subclasses of them, which they encode
as the base type. Anything else is a bug in the caller and raises ``TypeError``; a value
the language cannot hold (NUL in a shell word, a line break in a Dockerfile value, a
non-finite float) raises ``ValueError``. Spec text is checked long before (the loader
refuses control characters, :func:`find_template_syntax` template syntax), so these are
guards, not the place where users hear about bad input.
"""

from __future__ import annotations

import html
import json
import math
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring as _json_string  # the C encoder when available
from typing import Any, cast

import yaml

__all__ = [
    "docker_json_argv",
    "docker_quoted",
    "find_template_syntax",
    "html_text",
    "json_dump",
    "json_inline",
    "markdown_block",
    "markdown_code",
    "markdown_text",
    "mermaid_label",
    "mermaid_number",
    "promql_name",
    "promql_string",
    "py",
    "sh",
    "sh_join",
    "yaml_dump",
    "yaml_inline",
]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"non-finite float {value!r} cannot be encoded")
    return float(value)


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} expects str, got {type(value).__name__}")
    return str.__str__(value)


def _display_text(value: object, what: str) -> str:
    """Text shown to people (HTML, Markdown): a str, or a number in its decimal form."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return py(value)
    return _text(value, what)


# ---------------------------------------------------------------------------- Python


def py(value: Any) -> str:
    """Python literal source for ``value``; ``ast.literal_eval(py(v)) == v``.

    Uses ``repr`` for strings: it escapes quotes, backslashes, newlines, bidi and
    zero-width characters, and keeps non-BMP characters intact (``json.dumps`` would turn
    them into surrogate pairs that Python reads as two lone surrogates). Dicts keep their
    insertion order; determinism is the caller's job.
    """
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return int.__repr__(int(value))
    if isinstance(value, float):
        return float.__repr__(_finite(value))
    if isinstance(value, str):
        return str.__repr__(str.__str__(value))
    if isinstance(value, list):
        return "[" + ", ".join(py(item) for item in value) + "]"
    if isinstance(value, tuple):
        items = [py(item) for item in value]
        return "(" + items[0] + ",)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"py() cannot encode {type(value).__name__}")


# ---------------------------------------------------------------------------- shell


def sh(word: str) -> str:
    """One POSIX shell word that the shell reads back as exactly ``word``.

    NUL cannot be part of a process argument, so it is refused rather than silently cut.
    """
    word = _text(word, "sh()")
    if "\0" in word:
        raise ValueError("a shell word cannot contain NUL")
    return shlex.quote(word)


def sh_join(argv: Iterable[str]) -> str:
    """A shell command line whose words are exactly ``argv``."""
    if isinstance(argv, str):
        raise TypeError("sh_join() expects a sequence of words, not one str")
    return " ".join(sh(word) for word in argv)


# ---------------------------------------------------------------------------- YAML

# Keys matching this (and not YAML-1.1-ambiguous) are written plain so that workflows read
# naturally; every other key and every string value is quoted.
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# Words some YAML reader takes for a bool or null (YAML 1.1 lists y/n too, PyYAML does not);
# compared case-insensitively to stay on the safe side.
_AMBIGUOUS_KEYS = frozenset({"y", "n", "yes", "no", "true", "false", "on", "off", "null"})
_STR_TAG = "tag:yaml.org,2002:str"


def _is_literal_block(s: str) -> bool:
    """Whether ``s`` is clean multi-line text that a ``|`` block keeps byte for byte.

    Refused (so double-quoted instead): non-printable characters, which include ``\\r``,
    TAB, U+0085 and U+2028/2029 (PyYAML would emit them raw and a loader folds them),
    trailing whitespace on a line (stripped by some editors and linters), and more than
    one trailing newline (needs ``|+``, which yamllint and humans misread).
    """
    return (
        "\n" in s
        and s.replace("\n", "").isprintable()   # every character printable or a line break
        and all(line == line.rstrip() for line in s.split("\n"))
        and not s.endswith("\n\n")
    )


class _Dumper(yaml.SafeDumper):
    """PyYAML's pure-Python SafeDumper, so output bytes do not depend on libyaml.

    Only plain data kinds are representable (the tables below replace SafeDumper's, which
    would also write bytes, sets and dates); no anchors; block sequences indented under
    their key (yamllint's default ``indent-sequences``).
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def represent_mapping(self, tag: str, mapping: Any, flow_style: Any = None) -> yaml.MappingNode:
        node = super().represent_mapping(tag, mapping, flow_style)
        node.value = [(self._key_node(key), value) for key, value in node.value]
        return node

    @staticmethod
    def _key_node(node: yaml.Node) -> yaml.Node:
        """Keys are plain when unambiguous, else double-quoted (never a ``|`` block)."""
        if not (isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG):
            return node
        plain = _PLAIN_KEY.fullmatch(node.value) and node.value.lower() not in _AMBIGUOUS_KEYS
        return yaml.ScalarNode(_STR_TAG, node.value, style=None if plain else '"')

    def represent_text(self, s: str) -> yaml.ScalarNode:
        s = str.__str__(s)
        s.encode("utf-8")  # a lone surrogate would become a \uD800 escape no loader accepts
        return self.represent_scalar(_STR_TAG, s, style="|" if _is_literal_block(s) else '"')

    def represent_integer(self, value: int) -> yaml.ScalarNode:
        return self.represent_int(int(value))

    def represent_finite(self, value: float) -> yaml.ScalarNode:
        return self.represent_float(_finite(value))

    def represent_plain_dict(self, value: Mapping[Any, Any]) -> yaml.MappingNode:
        return self.represent_mapping("tag:yaml.org,2002:map", dict(value))

    def represent_unknown(self, value: Any) -> yaml.Node:
        raise TypeError(f"yaml_dump() cannot encode {type(value).__name__}")


# Exact types first, then subclasses through the nearest listed base in their MRO.
# (cast: the stubs type these tables too narrowly for methods of a subclass.)
_Dumper.yaml_representers = cast(Any, {
    type(None): _Dumper.represent_none,
    bool: _Dumper.represent_bool,
})
_Dumper.yaml_multi_representers = cast(Any, {
    str: _Dumper.represent_text,
    int: _Dumper.represent_integer,
    float: _Dumper.represent_finite,
    list: _Dumper.represent_list,
    tuple: _Dumper.represent_list,
    dict: _Dumper.represent_plain_dict,
    object: _Dumper.represent_unknown,
})


def yaml_dump(data: Any) -> str:
    """A YAML document for ``data`` that every YAML 1.1 and 1.2 reader loads back unchanged.

    Strings are double-quoted (or a ``|`` block for clean multi-line scripts), so no value
    can turn into a bool, number, null, new key or new list item (the Norway problem,
    ``3.10``, ``1e3``, injected ``\\n- run: ...``). Keys that are safe identifiers stay plain.
    Order is the caller's insertion order. Non-finite floats are refused.

    A direct writer produces the bytes PyYAML's emitter would (tested against it), about ten
    times faster; the rare shapes it does not cover go through PyYAML itself.
    """
    try:
        return _fast_dump(data)
    except _NotFast:
        return _pyyaml_dump(data)


def _pyyaml_dump(data: Any) -> str:
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=2**31 - 1,
        indent=2, default_flow_style=False,
    )


# ---------------------------------------------------------------------------- fast YAML writer


class _NotFast(Exception):
    """A shape the direct writer leaves to PyYAML (complex keys, open-ended blocks, top-level scalars)."""


_YAML_ESCAPES = {"\0": "0", "\x07": "a", "\x08": "b", "\t": "t", "\n": "n", "\x0b": "v", "\x0c": "f",
                 "\r": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_",
                 "\u2028": "L", "\u2029": "P"}
# Characters PyYAML writes as themselves inside double quotes (with allow_unicode).
# (A raw pattern: with the characters themselves, "\x5d" would be a "]" closing the class
# early, and no string took this fast path.)
_YAML_RAW = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*\Z")


def _yaml_quoted(s: str) -> str:
    s = str.__str__(s)
    if _YAML_RAW.match(s):   # (the class holds no surrogate)
        return f'"{s}"'
    s.encode("utf-8")  # a lone surrogate would become an escape no loader accepts
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\\x85\u2028\u2029\ufeff' or not (0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD):
            if ch in _YAML_ESCAPES:
                out.append("\\" + _YAML_ESCAPES[ch])
            elif o <= 0xFF:
                out.append(f"\\x{o:02X}")
            elif o <= 0xFFFF:
                out.append(f"\\u{o:04X}")
            else:
                out.append(f"\\U{o:08X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _yaml_key(key: Any) -> str:
    if type(key) is str:
        written = _KEYS_WRITTEN.get(key)
        if written is not None:
            return written
        written = _yaml_new_key(key)
        if len(_KEYS_WRITTEN) < 4096:
            _KEYS_WRITTEN[key] = written
        return written
    return _yaml_new_key(key)


_KEYS_WRITTEN: dict[str, str] = {}   # keys repeat: `run`, `name`, `needs` in every job


def _yaml_new_key(key: Any) -> str:
    if not isinstance(key, str):
        raise _NotFast
    if _PLAIN_KEY.fullmatch(key) and key.lower() not in _AMBIGUOUS_KEYS and len(key) <= 128:
        return key
    if not key or len(key) > 120 or any(c in key for c in "\n\r\x85\u2028\u2029"):
        raise _NotFast  # PyYAML writes these as `? key` complex keys
    return _yaml_quoted(key)


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        text = repr(_finite(float(value))).lower()
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    raise TypeError(f"yaml_dump() cannot encode {type(value).__name__}")


def _yaml_block(s: str, indent: int, out: list[str]) -> None:
    if s[-1] == "\n" and (len(s) == 1 or s[-2] == "\n"):
        raise _NotFast  # `|+` is open-ended; PyYAML then ends the document with `...`
    hints = ("2" if s[0] in " \n" else "") + ("-" if s[-1] != "\n" else "")
    out.append(f"|{hints}\n")
    pad = " " * indent
    for line in (s[:-1] if s.endswith("\n") else s).split("\n"):
        out.append(f"{pad}{line}\n" if line else "\n")


def _yaml_value(value: Any, indent: int, out: list[str]) -> None:
    """Write ``value`` after a ``key:`` or ``-`` already on the current line."""
    if isinstance(value, str):
        if _is_literal_block(value):
            out.append(" ")
            _yaml_block(str.__str__(value), indent, out)
        else:
            out.append(f" {_yaml_quoted(value)}\n")
    elif isinstance(value, dict):
        if value:
            out.append("\n")
            _yaml_mapping(value, indent, out)
        else:
            out.append(" {}\n")
    elif isinstance(value, (list, tuple)):
        if value:
            out.append("\n")
            _yaml_sequence(value, indent, out)
        else:
            out.append(" []\n")
    else:
        out.append(f" {_yaml_scalar(value)}\n")


def _yaml_mapping(mapping: Mapping[Any, Any], indent: int, out: list[str], inline: bool = False) -> None:
    pad = " " * indent
    for i, (key, value) in enumerate(mapping.items()):
        out.append(f"{'' if inline and i == 0 else pad}{_yaml_key(key)}:")
        _yaml_value(value, indent + 2, out)


def _yaml_sequence(items: Sequence[Any], indent: int, out: list[str], inline: bool = False) -> None:
    pad = " " * indent
    for i, value in enumerate(items):
        out.append(f"{'' if inline and i == 0 else pad}-")
        if isinstance(value, dict) and value:
            out.append(" ")
            _yaml_mapping(value, indent + 2, out, inline=True)
        elif isinstance(value, (list, tuple)) and value:
            out.append(" ")
            _yaml_sequence(value, indent + 2, out, inline=True)
        else:
            _yaml_value(value, indent + 2, out)


def _fast_dump(data: Any) -> str:
    out: list[str] = []
    if isinstance(data, dict) and data:
        _yaml_mapping(data, 0, out)
    elif isinstance(data, (list, tuple)) and data:
        _yaml_sequence(data, 0, out)
    else:
        raise _NotFast
    return "".join(out)


class _InlineDumper(_Dumper):
    """Strings always double-quoted: a ``|`` block needs lines of its own."""

    def represent_text(self, s: str) -> yaml.ScalarNode:
        s = str.__str__(s)
        s.encode("utf-8")
        return self.represent_scalar(_STR_TAG, s, style='"')


_InlineDumper.yaml_multi_representers = cast(Any, {
    **_Dumper.yaml_multi_representers, str: _InlineDumper.represent_text,
})


def yaml_inline(value: Any) -> str:
    """``value`` as one line of YAML (flow style), for a template's ``key: {{ v|yaml }}``."""
    text = yaml.dump(
        value, Dumper=_InlineDumper, sort_keys=False, allow_unicode=True, width=2**31 - 1,
        default_flow_style=True,
    )
    # A plain root scalar (``1``, ``null``) is followed by a document-end marker.
    return text.removesuffix("\n").removesuffix("\n...")


# ---------------------------------------------------------------------------- JSON


def _check_json(value: Any) -> None:
    """Refuse what ``json.dumps`` would silently change: non-string keys, odd types."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    raise TypeError(f"JSON object keys must be str, got {type(key).__name__}")
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif not (item is None or isinstance(item, (str, int, float))):
            raise TypeError(f"cannot encode {type(item).__name__} as JSON")


def json_dump(data: Any) -> str:
    """A JSON file for ``data``: 2-space indent, UTF-8 text, finite numbers, final newline.

    The bytes ``json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)`` gives (tested),
    written directly: with an indent the standard library falls back to its pure-Python
    generator encoder, which was a tenth of `compile --all` (the lock, the dashboards)."""
    _check_json(data)
    out: list[str] = []
    _json_pretty(data, "\n", out)
    out.append("\n")
    return "".join(out)


def _json_pretty(value: Any, newline: str, out: list[str]) -> None:
    """Append ``value`` as indented JSON; ``newline`` is a line break and the current indent."""
    if isinstance(value, str):
        out.append(_json_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(float.__repr__(_finite(value)))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = newline + "  "
        first = True
        for key, item in value.items():
            out.append(("{" if first else ",") + inner + _json_string(key) + ": ")
            first = False
            _json_pretty(item, inner, out)
        out.append(newline + "}")
    else:  # list or tuple (_check_json admits nothing else)
        if not value:
            out.append("[]")
            return
        inner = newline + "  "
        first = True
        for item in value:
            out.append(("[" if first else ",") + inner)
            first = False
            _json_pretty(item, inner, out)
        out.append(newline + "]")


def json_inline(value: Any) -> str:
    """``value`` as one line of JSON."""
    _check_json(value)
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# ---------------------------------------------------------------------------- PromQL

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def promql_string(s: str) -> str:
    """A PromQL double-quoted string literal whose value is ``s`` (e.g. a label matcher value).

    JSON's escapes are a subset of Go's; ``ensure_ascii=False`` matters because PromQL
    does not join ``\\uD83D\\uDE00`` surrogate escapes.
    """
    return json.dumps(_text(s, "promql_string()"), ensure_ascii=False)


def promql_name(s: str, *, label: bool = False) -> str:
    """``s`` if it is a valid metric name (or label name with ``label=True``), else ValueError.

    Names are whitelisted, not escaped: there is no quoting for them in classic PromQL.
    """
    pattern = _LABEL_NAME if label else _METRIC_NAME
    if not pattern.fullmatch(_text(s, "promql_name()")):
        kind = "label" if label else "metric"
        raise ValueError(f"{s!a} is not a valid Prometheus {kind} name")
    return str.__str__(s)


# ---------------------------------------------------------------------------- Dockerfile


def docker_json_argv(argv: Iterable[str]) -> str:
    """An exec-form JSON array (``RUN``/``CMD``/``ENTRYPOINT``): no shell, one argument per item.

    NUL cannot be part of a process argument, so it is refused rather than silently cut.
    """
    if isinstance(argv, str):
        raise TypeError("docker_json_argv() expects a sequence of words, not one str")
    words = [_text(word, "docker_json_argv()") for word in argv]
    if any("\0" in word for word in words):
        raise ValueError("a command argument cannot contain NUL")
    return json.dumps(words, ensure_ascii=False)


def docker_quoted(s: str) -> str:
    """A double-quoted Dockerfile word for ``LABEL``/``ENV`` values, read back literally.

    A line break would start a new instruction and NUL cannot be stored, so they are
    refused. ``\\``, ``"`` and ``$`` are escaped: the last stops the builder's environment
    replacement (``${HOME}``).
    """
    s = _text(s, "docker_quoted()")
    for bad in ("\r", "\n", "\0"):
        if bad in s:
            raise ValueError(f"a Dockerfile value cannot contain {bad!r}")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$") + '"'


def dockerignore_literal(path: str) -> str:
    """A .dockerignore pattern matching exactly ``path``: pattern characters escaped, and
    characters that are not printable (U+2028, NEL, ...) written as ``?``, so no editor or tool
    sees a line break inside a pattern (``?`` matches any one character but '/')."""
    escaped = _DOCKERIGNORE_SPECIAL.sub(r"\\\1", _text(path, "dockerignore_literal()"))
    return escaped if escaped.isprintable() else "".join(c if c.isprintable() else "?" for c in escaped)


_DOCKERIGNORE_SPECIAL = re.compile(r"([\\*?\[\]!#])")


def dockerignore_line(line: str) -> str:
    """One line of a .dockerignore (a pattern built from :func:`dockerignore_literal` or mlspec's
    own, or comment text): refused if it holds anything but printable characters, so it stays
    one line for Docker (which splits on '\\n') and every editor."""
    line = _text(line, "dockerignore_line()")
    if not line.isprintable():
        raise ValueError(f"a .dockerignore line cannot contain non-printable characters: {line!a}")
    return line


# ---------------------------------------------------------------------------- HTML, Markdown


def html_text(s: str | int | float) -> str:
    """``s`` as HTML text (Grafana titles and descriptions render HTML); numbers allowed."""
    return html.escape(_display_text(s, "html_text()"), quote=True)


# CommonMark: any ASCII punctuation character may be backslash-escaped and is then literal.
# Escaped: the Markdown/HTML syntax characters, plus `:` (GitHub autolinks `https:`,
# `mailto:`, `xmpp:`), `.` (`www.` autolinks, ordered lists), `&` (entities), `~`
# (strike-through), `=` (setext headings) and `$` (GitHub math). Other punctuation
# (`,` `'` `"` `/` `@` …) stays as is, so the raw file remains readable in a diff.
_MD_PUNCTUATION = re.compile(r"""([\\`*_{}\[\]<>()#+\-.!|&~=:$])""")


def _md_line(line: str) -> str:
    """One line with whitespace runs collapsed to a space and punctuation escaped."""
    return _MD_PUNCTUATION.sub(r"\\\1", " ".join(line.split()))


def markdown_text(s: str | int | float) -> str:
    """``s`` as inline Markdown text: no HTML, links, emphasis, headings or table breaks.

    Line breaks and runs of whitespace become one space, so the text stays on its line
    (a table cell, a list item, a heading). Numbers are shown in decimal. Known limit: GitHub
    still autolinks e-mail addresses (also ``mailto:``/``xmpp:`` ones) whatever the escaping;
    such a link points at its own visible text, so it cannot hide a destination.
    """
    return _md_line(_display_text(s, "markdown_text()"))


def markdown_block(s: str | int | float) -> str:
    """``s`` as Markdown paragraphs, escaped like :func:`markdown_text` line by line.

    Lines keep their breaks (any Unicode line break becomes ``\\n``); indentation is dropped
    (it would make a code block) and runs of blank lines become one paragraph break.
    No trailing newline.
    """
    lines = "\n".join(_md_line(line) for line in _display_text(s, "markdown_block()").splitlines())
    return re.sub(r"\n{3,}", "\n\n", lines).strip("\n")


def markdown_code(s: str) -> str:
    """``s`` as a fenced code block, shown verbatim (a command line, a script).

    The fence is one backtick longer than the longest backtick run in ``s`` (and at least
    three), so no line of ``s`` can close it. No trailing newline after the closing fence.
    """
    text = _text(s, "markdown_code()").replace("\r\n", "\n").replace("\r", "\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = text if not text or text.endswith("\n") else text + "\n"
    return f"{fence}\n{body}{fence}"


# ---------------------------------------------------------------------------- Mermaid

# Mermaid has no escape that every diagram type honours (`#quot;` entities, `%%` comments and
# directives, `"` ending a string): a label keeps letters, digits and a few harmless marks.
_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9 _.,()+/=-]")


def mermaid_label(s: str | int | float, limit: int = 60) -> str:
    """``s`` as the inside of a double-quoted Mermaid string (``"…"``): any other character
    becomes ``_``, whitespace runs one space, at most ``limit`` characters. Lossy on purpose."""
    text = _MERMAID_UNSAFE.sub("_", " ".join(_display_text(s, "mermaid_label()").split()))
    return text[:limit].strip() or "_"


def mermaid_number(value: float) -> str:
    """A finite number in plain decimal notation (Mermaid's chart grammars have no exponent)."""
    v = _finite(value)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    text = f"{v:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# ---------------------------------------------------------------------------- template syntax

_TEMPLATE_TOKENS = re.compile(r"\$\{\{|\{\{|\{%|\{#|\}\}")


def find_template_syntax(s: str) -> str | None:
    """The first downstream template token in ``s``, else None.

    Tokens: ``${{``, ``{{``, ``{%``, ``{#`` and ``}}`` (the end of a Go template action).

    GitHub Actions evaluates ``${{``, Airflow renders Jinja in templated fields and
    Prometheus annotations are Go templates; none has an escape, so such text is refused.
    """
    match = _TEMPLATE_TOKENS.search(_text(s, "find_template_syntax()"))
    return match.group() if match else None
