"""The expression engine against GitHub's documented and reference-implementation behaviour."""

from __future__ import annotations

import hashlib
import math

import pytest

from tests.ghsim.expressions import (
    ExpressionError, Scope, evaluate, evaluate_condition, evaluate_template, to_string,
)
from tests.ghsim.globbing import hash_files

CONTEXTS = {
    "github": {"event_name": "push", "ref": "refs/heads/main", "event": {
        "commits": [{"id": "a1", "author": {"name": "Ann"}}, {"id": "b2", "author": {"name": "Bob"}}],
        "labels": {"x": {"name": "bug"}, "y": {"name": "ci"}}}},
    "env": {"Greeting": "Hello", "EMPTY": "", "NUM": "10"},
    "matrix": {"py": "3.11", "list": [1, 2, 3]},
    "needs": {"build": {"result": "success", "outputs": {"json": '{"a": [1, 2], "b": true}'}}},
}


def ev(text: str, contexts=None, status=None):
    return evaluate(text, Scope(contexts or CONTEXTS, status or {}))


@pytest.mark.parametrize(("expr", "expected"), [
    ("null", None), ("true", True), ("false", False), ("42", 42.0), ("-4.5", -4.5), ("0xff", 255.0),
    ("1e3", 1000.0), ("'it''s'", "it's"), ("''", ""),
    # loose equality: strings ignore case, numbers coerce, null == 0 via number
    ("'ABC' == 'abc'", True), ("'1' == 1", True), ("null == 0", True), ("true == 1", True),
    ("'' == 0", True), ("'abc' == 0", False), ("null == false", True), ("'a' != 'A'", False),
    ("1 < 2", True), ("'b' > 'A'", True), ("2 >= 2", True), ("'x' < 1", False),
    # && and || return an operand, not a boolean
    ("'' || 'fallback'", "fallback"), ("'first' && 'second'", "second"), ("0 && 'x'", 0.0),
    ("!''", True), ("!'x'", False), ("!0", True),
    # precedence: ! > comparison > equality > && > ||
    ("true || false && false", True), ("!true == false", True), ("1 == 1 && 2 > 1", True),
    # property access: case-insensitive, missing is null, index by string or number
    ("env.greeting", "Hello"), ("env['GREETING']", "Hello"), ("env.missing", None), ("env.missing.deeper", None),
    ("matrix.list[1]", 2), ("matrix.list[7]", None), ("github.event.commits[0].id", "a1"),
    ("github.event.commits.*.id", ["a1", "b2"]), ("github.event.commits.*.author.name", ["Ann", "Bob"]),
    ("github.event.labels.*.name", ["bug", "ci"]),
    # functions
    ("contains('Hello World', 'WORLD')", True), ("contains(matrix.list, '2')", True),
    ("contains(github.event.commits.*.id, 'b2')", True), ("contains(matrix.list, 9)", False),
    ("startsWith(github.ref, 'REFS/heads/')", True), ("endsWith('file.PY', '.py')", True),
    ("format('{0}-{1}-{0}', 'a', 1)", "a-1-a"), ("format('{{0}} {0}', 'x')", "{0} x"),
    ("join(matrix.list)", "1,2,3"), ("join(matrix.list, ' + ')", "1 + 2 + 3"), ("join('abc')", "abc"),
    ("fromJSON(needs.build.outputs.json).a[1]", 2), ("fromJSON('true')", True), ("fromJSON('12')", 12),
    ("toJSON(matrix.list)", "[\n  1,\n  2,\n  3\n]"), ("toJSON('x')", '"x"'),
    ("fromJSON(env.NUM) > 9", True),
])
def test_expressions(expr, expected):
    result = ev(expr)
    if isinstance(expected, float) and isinstance(result, (int, float)):
        assert result == expected
    else:
        assert result == expected


@pytest.mark.parametrize(("value", "text"), [
    (None, ""), (True, "true"), (False, "false"), (3.0, "3"), (0.5, "0.5"), (1.2000000000000002, "1.2"),
    ([1], "Array"), ({"a": 1}, "Object"), (math.nan, "NaN"),
])
def test_string_forms(value, text):
    assert to_string(value) == text


def test_template_keeps_type_only_for_a_whole_expression():
    scope = Scope(CONTEXTS)
    assert evaluate_template("${{ matrix.list }}", scope) == [1, 2, 3]
    assert evaluate_template("py${{ matrix.py }}-${{ 1 == 1 }}", scope) == "py3.11-true"
    assert evaluate_template("${{ format('{0}', '}}') }}", scope) == "}}"  # '}}' inside a string literal
    assert evaluate_template({"k": "${{ env.NUM }}"}, scope) == {"k": "10"}


@pytest.mark.parametrize("bad", ["env.", "contains('a')", "format('{1}', 'x')", "1 +", "a == b", "'open",
                                 "secrets.X", "unknownfn(1)", "fromJSON('')"])
def test_errors(bad):
    with pytest.raises(ExpressionError):
        ev(bad)


def test_unknown_context_is_a_parse_error_like_github():
    # e.g. `secrets` in a job-level `if:`: GitHub rejects the workflow.
    with pytest.raises(ExpressionError, match="Unrecognized named-value: 'secrets'"):
        ev("secrets.TOKEN == ''", {"github": {}})


def test_conditions_without_status_function_are_anded_with_success():
    ran_ok = {"success": lambda: True, "failure": lambda: False, "cancelled": lambda: False, "always": lambda: True}
    failed = {"success": lambda: False, "failure": lambda: True, "cancelled": lambda: False, "always": lambda: True}
    assert evaluate_condition("github.event_name == 'push'", Scope(CONTEXTS, ran_ok)) is True
    assert evaluate_condition("github.event_name == 'push'", Scope(CONTEXTS, failed)) is False
    assert evaluate_condition("failure() && github.event_name == 'push'", Scope(CONTEXTS, failed)) is True
    assert evaluate_condition("always()", Scope(CONTEXTS, failed)) is True
    assert evaluate_condition(None, Scope(CONTEXTS, failed)) is False
    assert evaluate_condition("${{ github.event_name == 'pull_request' }}", Scope(CONTEXTS, ran_ok)) is False
    # GitHub's footgun: text around ${{ }} is a non-empty string, hence always true.
    assert evaluate_condition("${{ false }} && false", Scope(CONTEXTS, ran_ok)) is True
    assert evaluate_condition(False, Scope(CONTEXTS, ran_ok)) is False


def test_hash_files_is_sha256_of_file_sha256s(tmp_path):
    ws = tmp_path / "ws"
    (ws / "a").mkdir(parents=True)
    (ws / "a" / "requirements.txt").write_bytes(b"numpy\n")
    (ws / "requirements.txt").write_bytes(b"click\n")
    (ws / "other.txt").write_bytes(b"x")
    files = [ws / "a" / "requirements.txt", ws / "requirements.txt"]
    expected = hashlib.sha256(b"".join(hashlib.sha256(f.read_bytes()).digest() for f in files)).hexdigest()
    assert hash_files(["**/requirements.txt"], ws, tmp_path) == expected
    assert hash_files(["**/requirements.txt", "!a/**"], ws, tmp_path) == hashlib.sha256(
        hashlib.sha256(b"click\n").digest()).hexdigest()
    assert hash_files(["nothing-*.lock"], ws, tmp_path) == ""
    scope = Scope({"env": {}}, hash_files=lambda pats: hash_files(pats, ws, tmp_path))
    assert evaluate("hashFiles('**/requirements.txt')", scope) == expected
