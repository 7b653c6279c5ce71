"""Load: bytes -> :class:`~mlspec.language.document.Document` (plain data + a side table of positions).

The loader is strict on purpose (docs/diagnostics.md, MS0xx). It reads bytes itself, refuses
anything that is not UTF-8 or that hides characters, and builds the data from ONE
iterative pass over PyYAML *events* instead of PyYAML's recursive constructor, so that:

* deep nesting, billion laughs, huge integers and hostile tags cannot raise or blow up;
* every key and value gets a ``line:column`` span;
* typing follows a small YAML-1.2-core subset (``no`` and ``0755`` stay text).

Nothing here raises for bad input; problems come back as diagnostics MS001-MS014.
"""

from __future__ import annotations

import codecs
import itertools
import math
import os
import re
import unicodedata
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, Protocol

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from mlspec import diagnostics as codes
from mlspec.diagnostics import Diagnostic, Span, SpecPath, sort_diagnostics
from mlspec.language.document import Document, SpanTable

__all__ = [
    "MAX_BYTES", "MAX_DEPTH", "MAX_NODES", "MAX_SCALAR", "USE_LIBYAML", "load_document",
    "load_text",
]

MAX_BYTES: Final = 1024 * 1024
MAX_DEPTH: Final = 64
MAX_NODES: Final = 200_000
MAX_SCALAR: Final = 64 * 1024  # characters

#: Use libyaml's parser when it is installed. It is only a fast path: when it reports a
#: problem, or meets something the parsers are known to read differently, the file is
#: parsed again by the pure-Python parser, the reference; so both settings give identical
#: results (tests flip this switch).
USE_LIBYAML: bool = bool(getattr(yaml, "__with_libyaml__", False))

DEFAULT_NAME: Final = "mlproject.yaml"

_CORE = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL, _MAP, _SEQ = (
    _CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq")
)
_SCALAR_TAGS: Final = frozenset({_STR, _INT, _FLOAT, _BOOL, _NULL})
_NON_SPECIFIC: Final = "!"

_NULLS: Final = frozenset({"", "~", "null", "Null", "NULL"})
_BOOLS: Final = {"true": True, "false": False}
_INT_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")  # 18 digits: no int() digit-limit error
_NUMBER_START: Final = frozenset("-0123456789")
_FLOAT_RE: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")

# Characters refused anywhere in the file. Besides the obvious ones:
# U+2028/U+2029 are line breaks to YAML but not to most editors (positions would lie);
# surrogates and U+FFFE/U+FFFF are rejected by one parser and crash the other.
_FORBIDDEN_RE: Final = re.compile(
    "[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufeff\ufffe\uffff]"
)
_C0_NAMES: Final = (
    "NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR",
    "SO", "SI", "DLE", "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB",
    "ESC", "FS", "GS", "RS", "US",
)
_WIDE_BOMS: Final = (  # UTF-32 first: its LE mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)

# Diagnostics of one kind beyond these counts add noise, not information.
_LIMITS: Final = {codes.FORBIDDEN_CHARACTER: 5}
_DEFAULT_LIMIT: Final = 20

# libyaml accepts a comment right after a block scalar header ('|# c'); PyYAML refuses it.
_LIBYAML_LENIENT_RE: Final = re.compile(r"[|>][-+0-9]*#")

_SKIP: Final = object()  # mapping state: the value after an invalid key is ignored


# ---------------------------------------------------------------------------- public API


def load_document(
    source: str | os.PathLike[str] | bytes, *, display_name: str | None = None
) -> tuple[Document | None, list[Diagnostic]]:
    """Read and load the spec file at ``source`` (a path; ``bytes`` is a path too).

    ``display_name`` (default: the path as given) is what diagnostics and the Document
    call the file.
    """
    name = display_name if display_name is not None else os.fsdecode(source)
    from mlspec.bounded import ReadRefused, open_regular

    try:
        # A FIFO or device as the spec is refused instead of blocking or never ending.
        with open_regular(source) as fh:
            raw = fh.read(MAX_BYTES + 1)
    except (ReadRefused, OSError) as exc:
        reason = exc.reason if isinstance(exc, ReadRefused) else f"cannot be read: {exc.strerror or exc}"
        report = _Report(name)
        report.add(codes.FILE_UNREADABLE, f"cannot read the spec file: it {_clean(reason)}",
                   None, hint="check the path and the file's permissions")
        return None, report.finish()
    doc, diags = _load(raw, name)
    if doc is not None:
        doc = replace(doc, path=Path(os.fsdecode(source)))
    return doc, diags


def load_text(
    text_or_bytes: str | bytes, display_name: str = DEFAULT_NAME
) -> tuple[Document | None, list[Diagnostic]]:
    """Load a spec from its content (``bytes`` as read from disk, or already decoded text)."""
    return _load(text_or_bytes, display_name)


# ---------------------------------------------------------------------------- stages


def _load(raw: str | bytes, name: str) -> tuple[Document | None, list[Diagnostic]]:
    report = _Report(name)
    text = _decode(raw, report)
    if text is None:
        return None, report.finish()
    _scan_characters(text, report)
    if report:
        return None, report.finish()
    builder = _parse(text, name)
    if builder.report:
        return None, builder.report.finish()
    assert isinstance(builder.root, dict)  # a clean report guarantees a mapping
    return Document(file=name, text=text, data=builder.root, values=SpanTable(builder.values),
                    keys=SpanTable(builder.keys), leaves=builder.leaves), []


def _decode(raw: str | bytes, report: _Report) -> str | None:
    """Size cap, encoding checks and BOM removal; ``None`` when the content is refused."""
    if isinstance(raw, str):
        # Every code point takes at least one byte: long text is refused without encoding.
        too_big = len(raw) > MAX_BYTES or len(raw.encode("utf-8", "surrogatepass")) > MAX_BYTES
    else:
        too_big = len(raw) > MAX_BYTES
    if too_big:
        report.add(codes.FILE_TOO_LARGE, "file is larger than the 1 MiB limit for a spec",
                   Span(1, 1), hint="check that this is the spec file")
        return None
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")

    wide = _wide_encoding(raw)
    if wide:
        report.add(codes.NOT_UTF8, wide, Span(1, 1),
                   hint="save the file as UTF-8 (in most editors: Save with Encoding > UTF-8)")
        return None
    body = raw.removeprefix(codecs.BOM_UTF8)
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        head = body[: exc.start].decode("utf-8")  # valid up to the first bad byte
        line, column = _position(head, len(head))
        report.add(codes.NOT_UTF8,
                   f"file is not valid UTF-8: byte 0x{body[exc.start]:02X} cannot be decoded "
                   f"({_clean(exc.reason)})",
                   Span(line, column), hint="save the file as UTF-8")
        return None


def _wide_encoding(raw: bytes) -> str | None:
    for bom, encoding in _WIDE_BOMS:
        if raw.startswith(bom):
            return f"file is {encoding}; save it as UTF-8"
    sample = raw[:4096]
    # UTF-16/32 without a byte-order mark: ASCII text is then half (or 3/4) NUL bytes.
    if len(sample) >= 8 and sample.count(0) * 10 >= len(sample) * 3:
        encoding = "UTF-32" if sample.count(0) * 10 >= len(sample) * 6 else "UTF-16"
        return f"file looks like {encoding} (it is full of NUL bytes); save it as UTF-8"
    return None


def _scan_characters(text: str, report: _Report) -> None:
    """Refuse tabs and invisible or control characters before YAML sees them.

    Done here rather than left to the parsers because libyaml and PyYAML disagree on
    tabs and control characters, and because a tab or a bidi override makes the text
    look different from what the compiler reads.
    """
    matches = _FORBIDDEN_RE.finditer(text)
    for match in itertools.islice(matches, _LIMITS[codes.FORBIDDEN_CHARACTER]):
        char = match.group()
        span = Span(*_position(text, match.start()))
        if char == "\t":
            report.add(codes.FORBIDDEN_CHARACTER, "tab character", span,
                       hint="indent and separate with spaces; inside double quotes write \\t")
        else:
            report.add(codes.FORBIDDEN_CHARACTER, f"forbidden character {_describe(char)}",
                       span, hint="delete it: it is invisible, or changes how the text "
                                  "around it is displayed")
    # Positions cost a scan each; the rest are only counted.
    report.counts[codes.FORBIDDEN_CHARACTER] += sum(1 for _ in matches)


def _parse(text: str, name: str) -> _Builder:
    """Build the data, with libyaml as a fast path for clean files.

    PyYAML's pure parser is the reference. The two word and sometimes place errors
    differently, libyaml has its own nesting limit, and it accepts a few things PyYAML
    refuses; so a file that has any problem, or anything the parsers are known to read
    differently, is parsed again by the reference. Both settings thus give one answer.
    """
    if USE_LIBYAML and hasattr(yaml, "CSafeLoader") and not _LIBYAML_LENIENT_RE.search(text):
        fast = _walk(text, name, yaml.CSafeLoader)
        if not fast.report and not fast.lenient:
            return fast
    return _walk(text, name, yaml.SafeLoader)


def _walk(text: str, name: str, loader: type) -> _Builder:
    builder = _Builder(name, Span(*_position(text, len(text))))
    parser = loader(text)  # only its event stream is used: no constructor, no resolver
    get_event, feed = parser.get_event, builder.feed
    try:
        while (event := get_event()) is not None:
            if not feed(event):
                break  # fatal: what follows would only add noise
        else:
            builder.finish()
    except yaml.MarkedYAMLError as exc:
        builder.syntax_error(exc)
    except yaml.YAMLError as exc:  # ReaderError; cannot happen after _scan_characters
        builder.report.add(codes.YAML_SYNTAX, _clean(str(exc)), Span(1, 1))
    except RecursionError:  # the event loop is iterative; guard anyway
        builder.report.add(codes.TOO_DEEP, "nesting too deep to parse", Span(1, 1))
    except MemoryError:
        builder.report.add(codes.TOO_BIG, "document too big to parse", Span(1, 1))
    finally:
        parser.dispose()
    return builder


# ---------------------------------------------------------------------------- events -> data


class _Frame:
    """An open mapping or sequence while its events stream by."""

    __slots__ = ("flow", "key", "node", "path", "seen", "start", "store")

    def __init__(self, node: dict[str, Any] | list[Any], path: SpecPath, start: _Mark | None,
                 flow: bool):
        self.node = node
        self.path = path
        self.start = start
        self.flow = flow
        self.key: str | object | None = None  # mapping: key awaiting its value, or _SKIP
        self.store = True  # False for the value of a duplicate key
        self.seen: dict[str, tuple[int, int, int, int]] = {}


class _Builder:
    """Builds plain data and the position tables from one pass over the event stream."""

    def __init__(self, name: str, end: Span) -> None:
        self.report = _Report(name)
        self.end = end  # position of the end of the text
        self.stack: list[_Frame] = []
        self.root: Any = None
        self.empty = True  # no content: no document, or just an empty plain scalar
        # Positions as (line, column, end_line, end_column): Spans only when read (SpanTable).
        self.values: dict[SpecPath, tuple[int, int, int, int]] = {}
        self.keys: dict[SpecPath, tuple[int, int, int, int]] = {}
        self._last_line = end.line  # a mark before this line needs no clamping
        # Every key and every string or float value with its path, in document order: the
        # rules that look at every string read this instead of walking the data again.
        self.leaves: list[tuple[SpecPath, Any, bool]] = []
        self.skip = 0  # > 0 while inside an ignored collection (complex key, invalid key's value)
        self.nodes = 0
        self.documents = 0
        self.lenient = False  # saw something libyaml may read differently from PyYAML

    # -- dispatch

    def feed(self, event: Event) -> bool:
        """Consume one event; ``False`` means stop (a fatal problem was reported)."""
        kind = type(event)
        if kind is ScalarEvent or kind is MappingStartEvent or kind is SequenceStartEvent or kind is AliasEvent:
            self.nodes += 1
            if self.empty and not _is_blank(event):
                self.empty = False
            if self.nodes > MAX_NODES:
                self._add(codes.TOO_BIG, f"more than {MAX_NODES:,} YAML nodes", event,
                          hint="a spec is a hand-written file; is this the right file?")
                return False
            return self._node(event)
        if kind is MappingEndEvent or kind is SequenceEndEvent:
            self._end(event)
        elif kind is DocumentStartEvent:
            self.documents += 1
            if self.documents > 1:
                self._add(codes.MULTIPLE_DOCUMENTS,
                          "a second YAML document starts here; a spec is exactly one document",
                          event, hint="remove the '---' or '...' line and what follows, "
                                      "or move it to its own file")
                return False
            if event.tags:
                self._add(codes.TAG_NOT_ALLOWED, "%TAG directives are not allowed", event,
                          hint="remove the directive and write no custom tags")
        return True

    def finish(self) -> None:
        if self.empty:
            self.report.add(codes.EMPTY_DOCUMENT, "the file holds no YAML content", Span(1, 1),
                            hint="a spec starts with 'mlspec: 1' and a 'project:' section")
        elif not isinstance(self.root, dict):
            start = self.values.get((), (1, 1))
            self.report.add(codes.NOT_A_MAPPING,
                            f"the top level is {_kind(self.root)}; a spec must be a mapping",
                            Span(start[0], start[1]),
                            hint="write keys at the top level, starting with 'mlspec: 1'")

    def syntax_error(self, exc: yaml.MarkedYAMLError) -> None:
        message, hint = _syntax_message(exc)
        self.report.add(codes.YAML_SYNTAX, message,
                        self._point(exc.problem_mark or exc.context_mark),
                        self._current_path(), hint)

    # -- nodes

    def _node(self, event: NodeEvent) -> bool:
        if self.skip:
            if isinstance(event, CollectionStartEvent):
                return self._enter_skip(event)
            return True
        parent = self.stack[-1] if self.stack else None
        if _parsers_may_differ(event, parent):
            self.lenient = True
        if parent is None:
            path: SpecPath = ()
        elif isinstance(parent.node, list):
            path = parent.path + (len(parent.node),)
        elif parent.key is None:
            return self._key(event, parent)
        elif parent.key is _SKIP:
            if isinstance(event, CollectionStartEvent):
                return self._enter_skip(event)
            parent.key = None
            return True
        else:
            path = parent.path + (parent.key,)  # type: ignore[operator]

        kind = type(event)
        if kind is AliasEvent:
            self._alias(event, path)
            self._attach(None, path, self._span(event.start_mark, event.end_mark))
            return True
        if event.anchor is not None:
            self._check_anchor(event, path)
        if kind is ScalarEvent:
            value = self._scalar(event, path)
            # After a reported problem keep the raw text: it still says what the node is.
            self._attach(event.value if value is _SKIP else value, path,
                         self._span(event.start_mark, event.end_mark))
            return True
        assert isinstance(event, CollectionStartEvent)
        if len(self.stack) >= MAX_DEPTH:
            self._too_deep(event, path)
            return False
        mapping = isinstance(event, MappingStartEvent)
        self._check_collection_tag(event, path, _MAP if mapping else _SEQ)
        self.stack.append(_Frame({} if mapping else [], path, event.start_mark,
                                 bool(event.flow_style)))
        return True

    def _end(self, event: CollectionEndEvent) -> None:
        if self.skip:
            self.skip -= 1
            if self.skip == 0:  # the ignored node is complete
                parent = self.stack[-1]
                parent.key = _SKIP if parent.key is None else None
            return
        frame = self.stack.pop()
        self._attach(frame.node, frame.path, self._span(frame.start, event.end_mark))

    def _attach(self, value: Any, path: SpecPath, span: tuple[int, int, int, int]) -> None:
        self.values[path] = span
        if type(value) is str or type(value) is float:
            self.leaves.append((path, value, False))
        if not self.stack:
            self.root = value
            return
        parent = self.stack[-1]
        if isinstance(parent.node, list):
            parent.node.append(value)
        else:
            if parent.store:
                parent.node[parent.key] = value  # type: ignore[index]
            parent.key = None

    def _enter_skip(self, event: CollectionStartEvent) -> bool:
        self.skip += 1
        if len(self.stack) + self.skip > MAX_DEPTH:
            self._too_deep(event, self._current_path())
            return False
        return True

    def _too_deep(self, event: Event, path: SpecPath) -> None:
        self._add(codes.TOO_DEEP, f"nesting deeper than {MAX_DEPTH} levels", event, path,
                  hint="a spec never needs this much nesting; flatten the structure")

    # -- keys

    def _key(self, event: NodeEvent, parent: _Frame) -> bool:
        """Handle the node in key position of ``parent``; invalid keys skip their value."""
        where = parent.path
        if isinstance(event, AliasEvent):
            self._alias(event, where)
            parent.key = _SKIP
            return True
        if isinstance(event, CollectionStartEvent):
            self._add(codes.NON_STRING_KEY, "a list or mapping cannot be a key", event, where,
                      hint="keys are plain text; '? [a, b]' and '{a: 1}: x' are not allowed")
            return self._enter_skip(event)
        assert isinstance(event, ScalarEvent)
        self._check_anchor(event, where)
        text = event.value
        if len(text) > MAX_SCALAR:
            self._too_long(event, where)
            parent.key = _SKIP
            return True
        if event.tag is None and not event.style and text == "<<":
            self._add(codes.ANCHOR_OR_ALIAS, "merge key '<<' is not allowed", event, where,
                      hint="write the merged keys out in full")
            parent.key = _SKIP
            return True
        value = self._scalar(event, where, key=True)
        if value is _SKIP:
            parent.key = _SKIP
            return True
        if not isinstance(value, str):
            self._add(codes.NON_STRING_KEY,
                      f"key {_show(text) if text else '(empty)'} is {_kind(value)}, not text",
                      event, where, hint=f"quote the key if you mean the text: {_show(text)}:")
            parent.key = _SKIP
            return True
        span = self._span(event.start_mark, event.end_mark)
        path = where + (text,)
        first = parent.seen.get(text)
        if first is not None:
            self._add(codes.DUPLICATE_KEY,
                      f"duplicate key {_show(text)} (first defined at {first[0]}:{first[1]})",
                      event, path, hint="remove one of them; YAML would silently keep the last")
            parent.store = False
        else:
            parent.seen[text] = span
            parent.store = True
            self.keys[path] = span
            self.leaves.append((path, text, True))
        parent.key = text
        return True

    # -- scalars and tags

    def _scalar(self, event: ScalarEvent, path: SpecPath, *, key: bool = False) -> Any:
        """The typed value of a scalar, or ``_SKIP`` after reporting a problem."""
        text = event.value
        if len(text) > MAX_SCALAR and not key:
            self._too_long(event, path)
            return _SKIP
        tag = event.tag
        if tag is None:
            return _resolve_plain(text) if not event.style else text
        if tag == _NON_SPECIFIC:  # '!' forces the non-plain resolution: text
            return text
        if tag not in _SCALAR_TAGS:
            self._bad_tag(event, path, "a scalar")
            return _SKIP
        value = _resolve_tagged(text, tag)
        if value is _SKIP:
            self._add(codes.TAG_NOT_ALLOWED,
                      f"value {_show(text)} does not match its tag {_show_tag(tag)}",
                      event, path, hint="remove the tag, or write a value of that type")
        return value

    def _check_collection_tag(self, event: CollectionStartEvent, path: SpecPath, fits: str) -> None:
        if event.tag not in (None, _NON_SPECIFIC, fits):
            self._bad_tag(event, path, "a mapping" if fits == _MAP else "a list")

    def _bad_tag(self, event: ScalarEvent | CollectionStartEvent, path: SpecPath,
                 what: str) -> None:
        tag = event.tag or ""
        if tag in _SCALAR_TAGS or tag in (_MAP, _SEQ):
            message = f"tag {_show_tag(tag)} does not fit {what}"
        else:
            message = f"tag {_show_tag(tag)} is not allowed"
        self._add(codes.TAG_NOT_ALLOWED, message, event, path,
                  hint="remove the tag; only !!str, !!int, !!float, !!bool, !!null, !!map "
                       "and !!seq may be written")

    def _check_anchor(self, event: NodeEvent, path: SpecPath) -> None:
        if event.anchor is not None:
            self._add(codes.ANCHOR_OR_ALIAS, f"anchor {_show('&' + event.anchor)} is not allowed",
                      event, path, hint="remove the anchor and write values out in full")

    def _alias(self, event: AliasEvent, path: SpecPath) -> None:
        self._add(codes.ANCHOR_OR_ALIAS, f"alias {_show('*' + (event.anchor or ''))} is not "
                  "allowed", event, path, hint="write the value out in full")

    def _too_long(self, event: ScalarEvent, path: SpecPath) -> None:
        self._add(codes.TOO_BIG,
                  f"value of {len(event.value):,} characters is longer than the "
                  f"{MAX_SCALAR:,}-character limit", event, path,
                  hint="keep large text in a file and reference its path")

    # -- helpers

    def _add(self, code: str, message: str, event: Event, path: SpecPath = (),
             hint: str | None = None) -> None:
        self.report.add(code, message, self._point(event.start_mark), path, hint)

    def _point(self, mark: _Mark | None) -> Span:
        if mark is None:
            return Span(1, 1)
        # At the end of a file without a final line break libyaml places marks on the next
        # line, PyYAML at the end of the last one; the latter is where the text ends.
        line, column = self._clamp(mark)
        return Span(line, column)

    def _clamp(self, mark: _Mark | None) -> tuple[int, int]:
        """The 1-based (line, column) of ``mark``, never past the end of the text (tuples,
        not Spans: this runs twice for every node of the file)."""
        if mark is None:
            return 1, 1
        line, column = mark.line + 1, mark.column + 1
        end = self.end
        if line > end.line or (line == end.line and column > end.column):
            return end.line, end.column
        return line, column

    def _span(self, start: _Mark | None, end: _Mark | None) -> tuple[int, int, int, int]:
        if start is not None and end is not None and end.line + 1 < self._last_line:
            return start.line + 1, start.column + 1, end.line + 1, end.column + 1  # the usual case
        return (*self._clamp(start), *self._clamp(end))

    def _current_path(self) -> SpecPath:
        if not self.stack:
            return ()
        top = self.stack[-1]
        return top.path + (top.key,) if isinstance(top.key, str) else top.path


# ---------------------------------------------------------------------------- typing


def _resolve_plain(text: str) -> Any:
    """YAML 1.2 core schema, stricter: decimal numbers, ``true``/``false``, null, else text."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text[0] not in _NUMBER_START:
        return text
    if _INT_RE.fullmatch(text):
        return int(text)
    match = _FLOAT_RE.fullmatch(text)
    if match and (match.group(1) or match.group(2)):
        value = float(text)
        if math.isfinite(value):  # '1e999' stays text rather than becoming inf
            return value
    return text


def _resolve_tagged(text: str, tag: str) -> Any:
    """The value of ``text`` under an explicit core tag, or ``_SKIP`` if it does not fit."""
    if tag == _STR:
        return text
    if tag == _NULL:
        return None if text in _NULLS else _SKIP
    if tag == _BOOL:
        return _BOOLS.get(text, _SKIP)
    if tag == _INT:
        return int(text) if _INT_RE.fullmatch(text) else _SKIP
    # !!float: also accepts integers ('!!float 1' is 1.0)
    if _INT_RE.fullmatch(text) or _FLOAT_RE.fullmatch(text):
        value = float(text)
        if math.isfinite(value):
            return value
    return _SKIP


# ---------------------------------------------------------------------------- messages

# PyYAML names tokens like '<block mapping start>'; say what a user sees instead.
_TOKEN_WORDS: Final = {
    "'<block end>'": "the end of the block",
    "<block end>": "the end of the indented block",
    "'<block mapping start>'": "a new indented mapping",
    "'<block sequence start>'": "a new indented list",
    "'<block entry>'": "'-'",
    "'<scalar>'": "a value",
    "'<stream end>'": "the end of the file",
    "end of stream": "end of the file",
    "'<stream start>'": "the start of the file",
    "'<document start>'": "'---'",
    "'<document end>'": "'...'",
    "'<alias>'": "an alias",
    "'<anchor>'": "an anchor",
    "'<tag>'": "a tag",
    "'<directive>'": "a directive",
    "found '?'": "found a new key",
    "found '-'": "found a list item",
}
_CONTEXT_WORDS: Final = {
    "a simple key": "the key",
    "a block mapping": "the mapping",
    "a block collection": "the block",
    "a block node": "the value",
    "a flow node": "the value",
    "a node": "the value",
    "a flow mapping": "the {...} mapping",
    "a flow sequence": "the [...] list",
    "a quoted scalar": "the quoted text",
    "a double-quoted scalar": "the quoted text",
    "a single-quoted scalar": "the quoted text",
    "a block scalar": "the block text",
    "a plain scalar": "the text",
    "an anchor": "the anchor",
    "an alias": "the alias",
    "a tag": "the tag",
    "a directive": "the directive",
}
_SYNTAX_HINTS: Final = (
    ("<block end>", "check the indentation of this line against the lines above"),
    ("mapping values are not allowed",
     "a ': ' inside a value starts a mapping; quote the value, or fix the indentation"),
    ("could not find expected ':'",
     "a key needs ': ' after it; or quote text that spans several lines"),
    ("end of stream", "a quote or bracket is not closed"),
    ("cannot start any token", "quote the value: it starts with a character YAML reserves"),
    ("unknown escape character",
     "inside double quotes '\\' starts an escape; use single quotes or write '\\\\'"),
    ("tag handle", "remove the tag; custom tags are not allowed"),
    ("got '?'", "quote values that contain '?' inside [...] or {...}"),
    ("chomping or indentation", "put a space before a comment after '|' or '>'"),
    ("<document start>", "a spec is exactly one YAML document"),
)


def _syntax_message(exc: yaml.MarkedYAMLError) -> tuple[str, str | None]:
    problem = exc.problem or "invalid YAML"
    hint = next((h for needle, h in _SYNTAX_HINTS if needle in problem), None)
    for token, words in _TOKEN_WORDS.items():
        problem = problem.replace(token, words)
    message = problem
    context = re.sub(r"^while (?:parsing|scanning) ", "", exc.context or "")
    mark = exc.context_mark
    if context and mark is not None and not context.startswith("for the next token"):
        where = _CONTEXT_WORDS.get(context, context)
        message += f" (in {where} starting at {mark.line + 1}:{mark.column + 1})"
    return _clean(message), hint


def _parsers_may_differ(event: NodeEvent, parent: _Frame | None) -> bool:
    """Whether libyaml may have read this node differently from PyYAML (found by fuzzing)."""
    if not isinstance(event, ScalarEvent) or event.style:
        return False
    if not event.value:  # an empty value: both say null, but place it differently
        return True
    # PyYAML ends a plain scalar at '?' inside [...] and {...}; libyaml does not.
    return "?" in event.value and parent is not None and parent.flow


def _is_blank(event: NodeEvent) -> bool:
    """An empty plain scalar: what a document with no content (``---`` alone) holds."""
    return (isinstance(event, ScalarEvent) and event.value == "" and not event.style
            and event.tag is None and event.anchor is None)


def _describe(char: str) -> str:
    code = ord(char)
    name = unicodedata.name(char, "")
    if not name:
        if code < 0x20:
            name = f"{_C0_NAMES[code]} control character"
        elif code == 0x7F:
            name = "DEL control character"
        elif 0x80 <= code <= 0x9F:
            name = "C1 control character"
        elif 0xD800 <= code <= 0xDFFF:
            name = "unpaired surrogate"
        else:
            name = "noncharacter"
    return f"U+{code:04X} {name}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    return "a mapping"


def _show(text: str | None, limit: int = 60) -> str:
    """User text quoted for a message: escapes make control and look-alike characters visible."""
    text = text or ""
    shown = ascii(text[:limit])
    return shown + "..." if len(text) > limit else shown


def _show_tag(tag: str) -> str:
    short = "!!" + tag[len(_CORE):] if tag.startswith(_CORE) else tag
    return ascii(short)[1:-1] if short.isascii() and short.isprintable() else ascii(short)


def _clean(text: str) -> str:
    """Escape anything unprintable in text we did not write (PyYAML problems, OS errors)."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of ``offset``; CRLF, CR and LF are line breaks, as in YAML."""
    head = text[:offset]
    line = 1 + head.count("\n") + head.count("\r") - head.count("\r\n")
    line_start = max(head.rfind("\n"), head.rfind("\r")) + 1
    return line, offset - line_start + 1


class _Mark(Protocol):
    line: int  # 0-based, like column
    column: int




class _Report:
    """Collects diagnostics for one file, capping how many of each kind are kept."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[Diagnostic] = []
        self.counts: Counter[str] = Counter()

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, code: str, message: str, span: Span | None, path: SpecPath = (),
            hint: str | None = None) -> None:
        self.counts[code] += 1
        if self.counts[code] <= _LIMITS.get(code, _DEFAULT_LIMIT):
            self.items.append(Diagnostic(code, message, codes.CODES[code].severity, self.file,
                                         span, tuple(path), hint))

    def finish(self) -> list[Diagnostic]:
        items = self.items
        for code, count in self.counts.items():
            hidden = count - _LIMITS.get(code, _DEFAULT_LIMIT)
            if hidden > 0:
                last = max(i for i, d in enumerate(items) if d.code == code)
                items[last] = replace(items[last], message=items[last].message
                                      + f" ({hidden:,} more like this not shown)")
        return sort_diagnostics(items)
