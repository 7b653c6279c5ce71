"""Credential-looking values are refused and never printed. Fake tokens are assembled at
run time from split literals so this file itself holds nothing a scanner would flag."""

from __future__ import annotations

import pytest

from mlspec import diagnostics as dx
from mlspec.language.loader import load_text
from mlspec.language.rules import check_rules
from mlspec.language.validate import validate_spec

FAKES = {
    "aws": "AKIA" + "Z7QRSTUVWX234567",
    "github": "ghp" + "_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "slack": "xox" + "b-1234567890-abcdefghij",
    "private key": "-----BEGIN " + "RSA PRIVATE KEY-----",
    "uri password": "postgresql://admin:" + "hunter2pass" + "@db.example:5432/app",
    "hf": "hf" + "_" + "abcdefghijklmnopqrstuvwxyzABCDEFGH",
    "entropy": "Zx9" + "Qw7Ep4Rt2Yu8Io6Pa3Sd",
}


def diags_for(env_value: str, key: str = "SETTING") -> list[dx.Diagnostic]:
    text = (f'mlspec: 1\nproject: {{name: demo}}\nenvironment:\n  env:\n    {key}: "{env_value}"\n'
            "training: {run: python t.py, outputs: {model: m}}\n")
    doc, diags = load_text(text)
    spec, diags = validate_spec(doc)
    assert spec is not None, diags
    return [d for d in check_rules(spec, doc) if d.code == dx.CREDENTIAL_VALUE]


@pytest.mark.parametrize("kind", sorted(FAKES))
def test_credentials_are_refused_without_printing_them(kind: str) -> None:
    value = FAKES[kind]
    (d,) = diags_for(value)
    assert d.span.line == 5 and d.path == ("environment", "env", "SETTING")
    rendered = d.message + (d.hint or "")
    assert value not in rendered and value[6:14] not in rendered
    assert f"{len(value)} characters" in d.message


@pytest.mark.parametrize("value", [
    "http://mlflow:5000", "s3://bucket/path/file.parquet", "${HOME}/cache",
    "sha256:" + "ab" * 32, "0123456789abcdef" * 2 + "01234567", "production",
])
def test_ordinary_values_pass(value: str) -> None:
    assert diags_for(value) == []


def test_secret_named_key_with_a_literal_value_is_refused() -> None:
    assert len(diags_for("plainpassword1", key="DB_PASSWORD")) == 1
    assert diags_for("${DB_PASSWORD}", key="DB_PASSWORD") == []


def test_provider_patterns_apply_anywhere() -> None:
    text = ("mlspec: 1\nproject:\n  name: demo\n  description: token " + FAKES["github"] + "\n"
            "training: {run: python t.py, outputs: {model: m}}\n")
    doc, _ = load_text(text)
    spec, _ = validate_spec(doc)
    assert [d.path for d in check_rules(spec, doc) if d.code == dx.CREDENTIAL_VALUE] == [("project", "description")]
