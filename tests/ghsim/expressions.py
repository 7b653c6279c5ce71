"""GitHub Actions expressions: ``${{ ... }}`` lexing, parsing and evaluation.

The semantics follow GitHub's own evaluator (the reference implementation in
actions/languageservices and the runner): loose equality with JavaScript-like number coercion,
case-insensitive string comparison and property lookup, ``&&``/``||`` returning an operand,
``.*`` object filters, ``Array``/``Object`` as the string form of containers, and a parse error
for an unknown context name (so a workflow using ``secrets`` in a job ``if:`` fails as on GitHub).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

Value = Union[None, bool, int, float, str, list, dict]

MAX_EXPRESSION_LENGTH = 21000
STATUS_FUNCTIONS = frozenset({"success", "failure", "cancelled", "always"})


class ExpressionError(Exception):
    """A syntax or evaluation error; GitHub fails the job or step that owns the expression."""


class FilteredArray(list):
    """The result of a ``.*`` filter (``github.event.commits.*.id``)."""


# --- lexer -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    kind: str  # ( ) [ ] , . ! != == > >= < <= && || * NUMBER STRING IDENT TRUE FALSE NULL EOF
    lexeme: str
    value: Any = None
    pos: int = 0


_BOUNDARY = set("()[],.!><=&|")


def _is_boundary(c: str) -> bool:
    return c in _BOUNDARY or c.isspace()


_LEGAL_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")


def js_number(text: str) -> float:
    """JavaScript's ``Number(string)``, which GitHub uses to coerce strings."""
    s = text.strip()
    if s == "":
        return 0.0
    if s in ("Infinity", "+Infinity"):
        return math.inf
    if s == "-Infinity":
        return -math.inf
    low = s.lower()
    for prefix, base in (("0x", 16), ("0o", 8), ("0b", 2)):
        if low.startswith(prefix):
            try:
                return float(int(s[2:], base))
            except ValueError:
                return math.nan
    if _DECIMAL.match(s):
        return float(s)
    return math.nan


def lex(text: str) -> list[Token]:
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError("Exceeded max expression length")
    tokens: list[Token] = []
    i, n = 0, len(text)

    def prev() -> str:
        return tokens[-1].kind if tokens else "EOF"

    def error(sym: str, at: int) -> ExpressionError:
        return ExpressionError(f"Unexpected symbol: '{sym}'. Located at position {at + 1} within expression: {text}")

    while i < n:
        c = text[i]
        start = i
        if c in " \t\r\n":
            i += 1
            continue
        two = text[i:i + 2]
        if two in ("!=", "==", ">=", "<=", "&&", "||"):
            tokens.append(Token(two, two, pos=start))
            i += 2
            continue
        if c in "()[],*!<>":
            tokens.append(Token(c, c, pos=start))
            i += 1
            continue
        if c == "." and prev() in ("IDENT", "]", ")", "*"):
            tokens.append(Token(".", ".", pos=start))
            i += 1
            continue
        if c == "'":
            j = i + 1
            chunks: list[str] = []
            while True:
                if j >= n:
                    raise error(text[start:], start)
                if text[j] == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        chunks.append("'")
                        j += 2
                        continue
                    break
                chunks.append(text[j])
                j += 1
            tokens.append(Token("STRING", text[start:j + 1], "".join(chunks), start))
            i = j + 1
            continue
        if c.isdigit() or c in "+-.":
            j = i + 1
            while j < n and (not _is_boundary(text[j]) or text[j] == "."):
                j += 1
            lexeme = text[i:j]
            value = js_number(lexeme)
            if math.isnan(value):
                raise error(lexeme, start)
            tokens.append(Token("NUMBER", lexeme, value, start))
            i = j
            continue
        j = i
        while j < n and not _is_boundary(text[j]):
            j += 1
        if j == i:  # a lone '=', '&' or '|'
            j = i + 1
            while j < n and not _is_boundary(text[j]):
                j += 1
        lexeme = text[i:j]
        kind, value = "IDENT", None
        if prev() != ".":
            if lexeme == "true":
                kind, value = "TRUE", True
            elif lexeme == "false":
                kind, value = "FALSE", False
            elif lexeme == "null":
                kind = "NULL"
            elif lexeme == "NaN":
                kind, value = "NUMBER", math.nan
            elif lexeme == "Infinity":
                kind, value = "NUMBER", math.inf
        if not _LEGAL_IDENT.match(lexeme):
            raise error(lexeme, start)
        tokens.append(Token(kind, lexeme, value, start))
        i = j
    tokens.append(Token("EOF", "", pos=n))
    return tokens


# --- parser ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Literal:
    value: Value


@dataclass(frozen=True)
class Context:
    name: str


@dataclass(frozen=True)
class Star:
    pass


@dataclass(frozen=True)
class Index:
    obj: Any
    index: Any  # an expression node or Star


@dataclass(frozen=True)
class Not:
    expr: Any


@dataclass(frozen=True)
class Binary:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Logical:
    op: str  # && or ||
    args: tuple


@dataclass(frozen=True)
class Call:
    name: str  # lower case
    args: tuple


@dataclass(frozen=True)
class Group:
    expr: Any


# name -> (min args, max args)
FUNCTION_ARITY: dict[str, tuple[int, int]] = {
    "contains": (2, 2), "startswith": (2, 2), "endswith": (2, 2), "format": (1, 255),
    "join": (1, 2), "tojson": (1, 1), "fromjson": (1, 1), "hashfiles": (1, 255),
    "success": (0, 0), "failure": (0, 0), "cancelled": (0, 0), "always": (0, 0),
}
BUILTIN_FUNCTIONS = frozenset({"contains", "startswith", "endswith", "format", "join", "tojson", "fromjson"})
MAX_DEPTH = 50


@dataclass
class Parser:
    tokens: list[Token]
    contexts: frozenset[str]
    functions: frozenset[str]
    text: str
    pos: int = 0
    depth: int = 0

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def match(self, *kinds: str) -> Token | None:
        tok = self.tokens[self.pos]
        if tok.kind in kinds and tok.kind != "EOF":
            self.pos += 1
            return tok
        return None

    def fail(self, tok: Token) -> ExpressionError:
        if tok.kind == "EOF":
            return ExpressionError(f"Unexpected end of expression: '{self.text}'")
        return ExpressionError(
            f"Unexpected symbol: '{tok.lexeme}'. Located at position {tok.pos + 1} within expression: {self.text}")

    def parse(self) -> Any:
        if self.peek().kind == "EOF":
            raise ExpressionError("An expression was expected")
        node = self.expression()
        if self.peek().kind != "EOF":
            raise self.fail(self.peek())
        return node

    def expression(self) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpressionError("Exceeded max expression depth")
        try:
            return self.logical("||", self.logical_and)
        finally:
            self.depth -= 1

    def logical_and(self) -> Any:
        return self.logical("&&", self.equality)

    def logical(self, op: str, operand: Callable[[], Any]) -> Any:
        first = operand()
        args = [first]
        while self.match(op):
            args.append(operand())
        return first if len(args) == 1 else Logical(op, tuple(args))

    def equality(self) -> Any:
        node = self.comparison()
        while (tok := self.match("==", "!=")) is not None:
            node = Binary(tok.kind, node, self.comparison())
        return node

    def comparison(self) -> Any:
        node = self.unary()
        while (tok := self.match(">", ">=", "<", "<=")) is not None:
            node = Binary(tok.kind, node, self.unary())
        return node

    def unary(self) -> Any:
        if self.match("!"):
            return Not(self.unary())
        return self.index()

    def index(self) -> Any:
        node = self.call()
        if not isinstance(node, (Group, Call, Context)):
            return node
        while True:
            if self.match("["):
                idx: Any = Star() if self.match("*") else self.expression()
                if not self.match("]"):
                    raise self.fail(self.peek())
                node = Index(node, idx)
            elif self.match("."):
                if (tok := self.match("IDENT")) is not None:
                    node = Index(node, Literal(tok.lexeme))
                elif self.match("*"):
                    node = Index(node, Star())
                else:
                    raise self.fail(self.peek())
            else:
                return node

    def call(self) -> Any:
        tok = self.peek()
        if tok.kind != "IDENT":
            return self.primary()
        self.pos += 1
        if not self.match("("):
            if tok.lexeme.lower() not in self.contexts:
                raise ExpressionError(
                    f"Unrecognized named-value: '{tok.lexeme}'. Located at position {tok.pos + 1} "
                    f"within expression: {self.text}")
            return Context(tok.lexeme.lower())
        args: list[Any] = []
        while not self.match(")"):
            args.append(self.expression())
            if self.peek().kind != ")" and not self.match(","):
                raise self.fail(self.peek())
        name = tok.lexeme.lower()
        if name not in self.functions:
            raise ExpressionError(
                f"Unrecognized function: '{tok.lexeme}'. Located at position {tok.pos + 1} within expression: {self.text}")
        lo, hi = FUNCTION_ARITY[name]
        if len(args) < lo:
            raise ExpressionError(f"Too few parameters supplied: '{tok.lexeme}'")
        if len(args) > hi:
            raise ExpressionError(f"Too many parameters supplied: '{tok.lexeme}'")
        return Call(name, tuple(args))

    def primary(self) -> Any:
        tok = self.peek()
        if self.match("TRUE", "FALSE", "NUMBER", "STRING"):
            return Literal(tok.value)
        if self.match("NULL"):
            return Literal(None)
        if self.match("("):
            node = self.expression()
            if not self.match(")"):
                raise self.fail(self.peek())
            return Group(node)
        raise self.fail(tok)


def parse(text: str, contexts: frozenset[str], functions: frozenset[str]) -> Any:
    return Parser(lex(text), contexts, functions, text).parse()


def uses_status_function(node: Any) -> bool:
    if isinstance(node, Call):
        return node.name in STATUS_FUNCTIONS or any(uses_status_function(a) for a in node.args)
    if isinstance(node, (Group, Not)):
        return uses_status_function(node.expr)
    if isinstance(node, Binary):
        return uses_status_function(node.left) or uses_status_function(node.right)
    if isinstance(node, Logical):
        return any(uses_status_function(a) for a in node.args)
    if isinstance(node, Index):
        return uses_status_function(node.obj) or uses_status_function(node.index)
    return False


# --- values --------------------------------------------------------------------------------------

def kind(v: Value) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def to_number(v: Value) -> float:
    k = kind(v)
    if k == "null":
        return 0.0
    if k == "boolean":
        return 1.0 if v else 0.0
    if k == "number":
        return float(v)  # type: ignore[arg-type]
    if k == "string":
        return js_number(v)  # type: ignore[arg-type]
    return math.nan


def number_to_string(x: float) -> str:
    if x == 0:
        return "0"
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    x = float(round(x, 15))
    if x.is_integer() and abs(x) < 1e21:
        return str(int(x))
    text = repr(x)
    # JavaScript writes exponents as e-7 / e+21, Python as e-07 / e+21.
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", text)


def to_string(v: Value) -> str:
    """How GitHub turns a value into text inside a template (``Object``/``Array`` for containers)."""
    k = kind(v)
    if k == "null":
        return ""
    if k == "boolean":
        return "true" if v else "false"
    if k == "number":
        return number_to_string(float(v))  # type: ignore[arg-type]
    if k == "string":
        return v  # type: ignore[return-value]
    return "Array" if k == "array" else "Object"


def truthy(v: Value) -> bool:
    k = kind(v)
    if k == "null":
        return False
    if k == "boolean":
        return bool(v)
    if k == "number":
        return not (v == 0 or math.isnan(v))  # type: ignore[arg-type]
    if k == "string":
        return len(v) > 0  # type: ignore[arg-type]
    return True


def _coerce(a: Value, b: Value) -> tuple[Value, Value]:
    ka, kb = kind(a), kind(b)
    if ka == kb:
        return a, b
    if ka == "number" and kb == "string":
        return a, js_number(b)  # type: ignore[arg-type]
    if ka == "string" and kb == "number":
        return js_number(a), b  # type: ignore[arg-type]
    if ka in ("null", "boolean"):
        return _coerce(to_number(a), b)
    if kb in ("null", "boolean"):
        return _coerce(a, to_number(b))
    return a, b


def _upper(s: str) -> str:
    # GitHub compares OrdinalIgnoreCase; the dotless i stays as it is.
    return "".join(ch if ch == "ı" else ch.upper() for ch in s)


def equals(a: Value, b: Value) -> bool:
    a, b = _coerce(a, b)
    ka, kb = kind(a), kind(b)
    if ka != kb:
        return False
    if ka == "null":
        return True
    if ka == "number":
        fa, fb = float(a), float(b)  # type: ignore[arg-type]
        return not (math.isnan(fa) or math.isnan(fb)) and fa == fb
    if ka == "string":
        return _upper(a) == _upper(b)  # type: ignore[arg-type]
    if ka == "boolean":
        return a == b
    return a is b


def _order(a: Value, b: Value, greater: bool) -> bool:
    a, b = _coerce(a, b)
    ka, kb = kind(a), kind(b)
    if ka != kb:
        return False
    if ka == "number":
        fa, fb = float(a), float(b)  # type: ignore[arg-type]
        if math.isnan(fa) or math.isnan(fb):
            return False
        return fa > fb if greater else fa < fb
    if ka == "string":
        sa, sb = _upper(a), _upper(b)  # type: ignore[arg-type]
        return sa > sb if greater else sa < sb
    if ka == "boolean":
        return (a and not b) if greater else (not a and b)  # type: ignore[return-value]
    return False


def lookup(obj: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    """Case-insensitive property lookup, as GitHub's dictionaries do."""
    if key in obj:
        return True, obj[key]
    low = key.lower()
    for k, v in obj.items():
        if isinstance(k, str) and k.lower() == low:
            return True, v
    return False, None


def to_json(v: Value, indent: int = 2) -> str:
    def plain(x: Any) -> Any:
        if isinstance(x, float):
            if math.isnan(x) or math.isinf(x):
                return None
            return int(x) if x.is_integer() and abs(x) < 1e21 else x
        if isinstance(x, list):
            return [plain(i) for i in x]
        if isinstance(x, dict):
            return {str(k): plain(i) for k, i in x.items()}
        return x
    return json.dumps(plain(v), indent=indent, ensure_ascii=False)


def _format(fmt: str, args: Sequence[Value]) -> str:
    out: list[str] = []
    i, n = 0, len(fmt)
    while i < n:
        lb, rb = fmt.find("{", i), fmt.find("}", i)
        if lb >= 0 and (rb < 0 or rb > lb):
            if lb + 1 < n and fmt[lb + 1] == "{":
                out.append(fmt[i:lb + 1])
                i = lb + 2
                continue
            digits = re.match(r"\d+", fmt[lb + 1:])
            if rb > lb + 1 and digits and lb + 1 + len(digits.group()) == rb:
                idx = int(digits.group())
                if idx >= len(args):
                    raise ExpressionError(f"The following format string references more arguments than were supplied: {fmt}")
                out.append(fmt[i:lb])
                out.append(to_string(args[idx]))
                i = rb + 1
                continue
            raise ExpressionError(f"The following format string is invalid: {fmt}")
        if rb >= 0:
            if rb + 1 < n and fmt[rb + 1] == "}":
                out.append(fmt[i:rb + 1])
                i = rb + 2
                continue
            raise ExpressionError(f"The following format string is invalid: {fmt}")
        out.append(fmt[i:])
        break
    return "".join(out)


def _from_json(text: Value) -> Value:
    s = to_string(text)
    if s.strip() == "":
        raise ExpressionError("Empty string passed to fromJSON")
    try:
        return json.loads(s)
    except ValueError as exc:
        raise ExpressionError(f"Error parsing fromJson: {exc}") from None


# --- evaluation --------------------------------------------------------------------------------

@dataclass
class Scope:
    """What an expression may see: context values and the host functions of its key."""

    contexts: Mapping[str, Value]
    status: Mapping[str, Callable[[], bool]] = field(default_factory=dict)
    hash_files: Callable[[Sequence[str]], str] | None = None

    @property
    def context_names(self) -> frozenset[str]:
        return frozenset(k.lower() for k in self.contexts)

    @property
    def function_names(self) -> frozenset[str]:
        names = set(BUILTIN_FUNCTIONS) | set(self.status)
        if self.hash_files is not None:
            names.add("hashfiles")
        return frozenset(names)


def evaluate_node(node: Any, scope: Scope) -> Value:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Context):
        found, value = lookup(scope.contexts, node.name)
        return value if found else None
    if isinstance(node, Group):
        return evaluate_node(node.expr, scope)
    if isinstance(node, Not):
        return not truthy(evaluate_node(node.expr, scope))
    if isinstance(node, Logical):
        result: Value = None
        for arg in node.args:
            result = evaluate_node(arg, scope)
            if (node.op == "&&") != truthy(result):
                break
        return result
    if isinstance(node, Binary):
        a, b = evaluate_node(node.left, scope), evaluate_node(node.right, scope)
        if node.op == "==":
            return equals(a, b)
        if node.op == "!=":
            return not equals(a, b)
        if node.op == ">":
            return _order(a, b, True)
        if node.op == "<":
            return _order(a, b, False)
        if node.op == ">=":
            return equals(a, b) or _order(a, b, True)
        return equals(a, b) or _order(a, b, False)
    if isinstance(node, Index):
        return _index(node, scope)
    if isinstance(node, Call):
        return _call(node, scope)
    raise ExpressionError(f"cannot evaluate {node!r}")


def _index(node: Index, scope: Scope) -> Value:
    star = isinstance(node.index, Star)
    key = None if star else evaluate_node(node.index, scope)
    obj = evaluate_node(node.obj, scope)

    def access(item: Value, out: list[Value] | None) -> Value:
        if isinstance(item, dict):
            if star:
                if out is not None:
                    out.extend(item.values())
                    return None
                return FilteredArray(item.values())
            if isinstance(key, str):
                found, value = lookup(item, key)
                if found:
                    if out is not None:
                        out.append(value)
                    return value
            elif kind(key) == "number" and out is None:
                # GitHub converts a number index on an object to its string form.
                found, value = lookup(item, to_string(key))
                return value if found else None
            return None
        if isinstance(item, list):
            if star:
                if out is not None:
                    out.extend(item)
                    return None
                return FilteredArray(item)
            idx = to_number(key)
            if not math.isnan(idx) and idx >= 0 and int(idx) < len(item):
                value = item[int(idx)]
                if out is not None:
                    out.append(value)
                return value
            return None
        if out is None and star:
            return FilteredArray()
        return None

    if isinstance(obj, FilteredArray):
        out: list[Value] = []
        for item in obj:
            if isinstance(item, (dict, list)):
                access(item, out)
        return FilteredArray(out)
    return access(obj, None)


def _call(node: Call, scope: Scope) -> Value:
    name = node.name
    if name in STATUS_FUNCTIONS:
        return scope.status[name]()
    args = [evaluate_node(a, scope) for a in node.args]
    if name == "contains":
        search, item = args
        if kind(search) in ("null", "boolean", "number", "string"):
            if kind(item) in ("null", "boolean", "number", "string"):
                return _upper(to_string(item)) in _upper(to_string(search))
            return False
        if isinstance(search, list):
            return any(equals(item, v) for v in search)
        return False
    if name in ("startswith", "endswith"):
        a, b = args
        if kind(a) in ("array", "object") or kind(b) in ("array", "object"):
            return False
        sa, sb = _upper(to_string(a)), _upper(to_string(b))
        return sa.startswith(sb) if name == "startswith" else sa.endswith(sb)
    if name == "format":
        return _format(to_string(args[0]), args[1:])
    if name == "join":
        if kind(args[0]) not in ("array", "object"):
            return to_string(args[0])
        if isinstance(args[0], list):
            sep = to_string(args[1]) if len(args) > 1 and kind(args[1]) not in ("array", "object") else ","
            return sep.join(to_string(x) for x in args[0])
        return ""
    if name == "tojson":
        return to_json(args[0])
    if name == "fromjson":
        return _from_json(args[0])
    if name == "hashfiles":
        assert scope.hash_files is not None
        return scope.hash_files([to_string(a) for a in args])
    raise ExpressionError(f"Unrecognized function: '{name}'")


def evaluate(text: str, scope: Scope) -> Value:
    """Evaluate one expression (the text between ``${{`` and ``}}``)."""
    return evaluate_node(parse(text, scope.context_names, scope.function_names), scope)


# --- templates ---------------------------------------------------------------------------------

def split_template(text: str) -> list[tuple[bool, str]]:
    """Split a string into literal parts and ``${{ }}`` expressions (quotes may contain ``}}``)."""
    parts: list[tuple[bool, str]] = []
    i = 0
    while True:
        start = text.find("${{", i)
        if start < 0:
            parts.append((False, text[i:]))
            break
        parts.append((False, text[i:start]))
        j, in_string = start + 3, False
        while j < len(text):
            if text[j] == "'":
                in_string = not in_string
            elif not in_string and text.startswith("}}", j):
                break
            j += 1
        if j >= len(text):
            raise ExpressionError(f"The expression is not closed. An unescaped ${{{{ sequence was found, but the closing }}}} sequence was not found: {text}")
        parts.append((True, text[start + 3:j].strip()))
        i = j + 2
    return [p for p in parts if p[0] or p[1]]


def is_single_expression(text: str) -> bool:
    parts = split_template(text) if "${{" in text else []
    return len(parts) == 1 and parts[0][0]


def evaluate_template(value: Any, scope: Scope) -> Any:
    """Evaluate a workflow value: a string that is exactly one ``${{ }}`` keeps the result's type;
    any other string becomes text with each expression's string form; containers recurse."""
    if isinstance(value, str):
        if "${{" not in value:
            return value
        parts = split_template(value)
        if len(parts) == 1 and parts[0][0]:
            return evaluate(parts[0][1], scope)
        return "".join(to_string(evaluate(p, scope)) if is_expr else p for is_expr, p in parts)
    if isinstance(value, list):
        return [evaluate_template(v, scope) for v in value]
    if isinstance(value, dict):
        return {evaluate_template(k, scope) if isinstance(k, str) else k: evaluate_template(v, scope)
                for k, v in value.items()}
    return value


def evaluate_string(value: Any, scope: Scope) -> str:
    """A value where the workflow schema expects a string (``run``, ``env``, ``with``)."""
    return to_string(evaluate_template(value, scope))


def condition_source(value: Any) -> tuple[str | None, Any]:
    """Normalise an ``if:`` value: (expression text, None) or (None, literal value)."""
    if value is None:
        return "success()", None
    if isinstance(value, bool):
        return None, value
    if isinstance(value, (int, float)):
        return None, value
    text = str(value).strip()
    if "${{" in text:
        parts = split_template(text)
        if len(parts) == 1 and parts[0][0]:
            return parts[0][1], None
        return None, text  # GitHub's footgun: text around ${{ }} makes a non-empty, truthy string
    return text, None


def evaluate_condition(value: Any, scope: Scope) -> bool:
    """``if:`` evaluation: no status function means ``success() && (...)``."""
    text, literal = condition_source(value)
    if text is None:
        if isinstance(literal, str):
            return truthy(evaluate_template(literal, scope))
        return truthy(literal)
    node = parse(text, scope.context_names, scope.function_names)
    if not uses_status_function(node):
        node = Logical("&&", (Call("success", ()), Group(node)))
    return truthy(evaluate_node(node, scope))
