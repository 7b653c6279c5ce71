"""Every string field of the spec passes the one secrets detector (MS305).

Reproductions: each secret below was missed by the scanner and landed verbatim in an
artifact (the Dockerfile's labels, the Alertmanager config, the CI workflow, the lock).
Fake credentials are assembled at run time from split literals, so this file holds
nothing a scanner would flag.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec import diagnostics as dx
from mlspec.api import check_project
from mlspec.language import secrets_scan

ROOT = Path(__file__).resolve().parent.parent
KEY40 = "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "9x7QKEY2Ab"          # the shape of an AWS secret key

BASE = """\
mlspec: 1
project:
  name: demo
  description: {description}
environment:
  test: {test}
data:
  rows:
    uri: {uri}
    format: csv
steps:
  prep:
    run: {run}
    needs: [data.rows]
training:
  run: python train.py
  needs: [steps.prep]
  outputs: {{model: model.bin}}
registry:
  backend: mlflow
  uri: {registry}
monitoring:
  current: data.rows
  alerts:
    - channel: webhook
      to: {webhook}
"""
CLEAN = {"description": '"Predicts churn."', "test": "pytest -q", "uri": "data/rows.csv", "run": "python prep.py",
         "registry": "http://mlflow:5000", "webhook": "https://hooks.example.com/alert"}

MISSED = {
    "a URI password holding '/'": ("uri", "postgresql://admin:pa/ss" + "w0rd@db.example:5432/app",
                                   ("data", "rows", "uri"), "a password in a URI"),
    "a URI password holding '$'": ("uri", "postgresql://admin:pa$" + "w0rd@db.example:5432/app",
                                   ("data", "rows", "uri"), "a password in a URI"),
    "AWS_SECRET_ACCESS_KEY= in a run command": ("run", "AWS_SECRET_ACCESS_KEY=" + KEY40 + " python prep.py",
                                                ("steps", "prep", "run"), "a secret assigned in a command"),
    "?aws_secret_access_key= in a data URI": ("uri", "s3://bucket/rows.csv?aws_secret_access_key=" + KEY40,
                                              ("data", "rows", "uri"), "a secret in a URL query"),
    "a 40-character key in project.description": ("description", '"Churn. Key ' + KEY40 + '"',
                                                  ("project", "description"), "a high-entropy token"),
    "?token= in a webhook": ("webhook", "https://hooks.example.com/alert?token=" + "a8Fk29dkQ0pLz7Xw3mNv",
                             ("monitoring", "alerts", 0, "to"), "a secret in a URL query"),
    "API_TOKEN= in environment.test": ("test", "API_TOKEN=" + "s3cr3tT0ken-value-77" + " pytest -q",
                                       ("environment", "test"), "a secret assigned in a command"),
    "a password in registry.uri": ("registry", "https://ml:" + "Hunter2pass" + "@mlflow.example.com",
                                   ("registry", "uri"), "a password in a URI"),
}


def spec_text(**fields: str) -> str:
    return BASE.format(**{**CLEAN, **fields})


@pytest.mark.parametrize("case", sorted(MISSED))
def test_a_secret_anywhere_is_ms305_at_its_place_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    field, value, path, kind = MISSED[case]
    spec = tmp_path / "mlproject.yaml"
    spec.write_text(spec_text(**{field: value}))
    checked = check_project(spec)
    found = [d for d in checked.diagnostics if d.code == dx.CREDENTIAL_VALUE]
    assert [(d.path, d.message.split(" looks like ")[1].split(" (")[0]) for d in found] == [(path, kind)]
    line = spec.read_text().splitlines()[found[0].span.line - 1]
    assert value.strip('"') in line                       # positioned at the value itself
    assert "environment.secrets" in (found[0].hint or "")
    secret_part = value[-12:].strip('"')
    r = subprocess.run([sys.executable, "-m", "mlspec", "compile", "--", str(spec)], cwd=tmp_path,
                       capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 1 and "error[MS305]" in r.stderr
    assert secret_part not in r.stderr + r.stdout         # never printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlproject.yaml"]


def test_the_clean_spec_has_no_finding(tmp_path: Path) -> None:
    spec = tmp_path / "mlproject.yaml"
    spec.write_text(spec_text())
    assert [d for d in check_project(spec).diagnostics if d.code == dx.CREDENTIAL_VALUE] == []


NOT_SECRETS = [
    "sha256:" + "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "4b825dc642cb6eb9a060e54bf8d69288fbee4904",                     # a git SHA
    "v2026-11-01+g4b825dc6",
    "550e8400-e29b-41d4-a716-446655440000",
    "https://mlflow.example.com:5000/api/2.0?experiment=churn&format=json",
    "http://203.0.113.9:9091",
    "s3://example-data/churn/2026/11/customers.parquet",
    "s3://bucket/models/path@v2/model.parquet",
    "abfss://container@account.dfs.core.windows.net/data/Customers2024",
    "git@github.com:example/churn.git",
    "ssh://git@github.com/example/churn.git",
    "python:3.11-slim@sha256:" + "0123456789abcdef" * 4,
    "actions/checkout@" + "b4ffde65f46336ab88eb53be808477a3936bae11",
    "python -m churn.train --n-estimators ${params.n_estimators} --seed ${params.seed}",
    "python score.py --token-budget 4000 --max-tokens-per-request 512",
    "python load.py --password-file /run/secrets/db --auth-mode managed-identity",
    "DB_PASSWORD=${DB_PASSWORD} python load.py --api-key \"$API_KEY\" --token $(cat /run/secrets/t)",
    "TOKEN_LIMIT=unlimited MAX_TOKENS=4096 python serve.py",
    "uvicorn churn.api:app --host 0.0.0.0 --port 8080 --no-auth --verbose",
    "Predicts which customers will cancel their subscription next month (ResNet50v2 features).",
    "models/ResNet50/Checkpoint2024/weights.safetensors",
    "growth-ml@example.com",
    "#growth-ml-alerts",
    "${params.x}",
    "evals/questions_v3_2026Q4.jsonl",
]


@pytest.mark.parametrize("value", NOT_SECRETS)
def test_ordinary_text_is_not_a_secret(value: str) -> None:
    assert secrets_scan.classify(value) is None


@pytest.mark.parametrize("key, value, secret", [
    ("DB_PASSWORD", "hunter2pass", True), ("API_KEY", "k3y-" + "Zx9Qw7Ep4R", True),
    ("DB_PASSWORD", "${DB_PASSWORD}", False), ("TOKEN_LIMIT", "unlimited", False),
    ("MAX_TOKENS", "100000000", False), ("PRIMARY_KEY", "customer_id", False),
])
def test_values_under_secret_names(key: str, value: str, secret: bool) -> None:
    assert (secrets_scan.classify(value, key) is not None) is secret


def test_the_examples_and_test_specs_hold_no_finding() -> None:
    specs = sorted(ROOT.glob("examples/*/mlproject.yaml"))
    specs += [p for p in sorted((ROOT / "tests/cases").glob("*.yaml")) if not p.name.startswith("MS305")]
    for spec in specs:
        findings = [d for d in check_project(spec).diagnostics if d.code == dx.CREDENTIAL_VALUE]
        assert findings == [], spec


def test_everything_detect_secrets_finds_we_find_too() -> None:
    """detect-secrets (a well-kept scanner) as an oracle: on a corpus of fakes shaped like
    each of its provider plugins', whatever its plugins report, classify() reports too."""
    pytest.importorskip("detect_secrets")
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import default_settings

    corpus = [
        "AKIA" + "Z7QRSTUVWX234567", "ghp" + "_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "glpat-" + "a1B2c3D4e5F6g7H8i9J0", "xox" + "b-1234567890-abcdefghij",
        "https://hooks.slack.com/services/" + "T0123ABC/B0123ABC/abcdefABCDEF0123",
        "-----BEGIN " + "OPENSSH PRIVATE KEY-----", "sk_live_" + "a1B2c3D4e5F6g7H8i9J0k1L2",
        "npm_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "SG." + "a1B2c3D4e5F6g7H8i9J0k1" + "." + "x" * 43,
        "AC" + "0123456789abcdef0123456789abcdef", "sq0csp-" + "a" * 43,
        "123456789:" + "AAE" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6", "0123456789abcdef0123456789abcdef-us12",
        "AccountKey=" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2" * 2,
        "eyJ" + "hbGciOiJIUzI1NiJ9" + ".eyJ" + "zdWIiOiIxMjM0NTY3ODkwIn0" + "." + "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "postgresql://admin:" + "hunter2pass" + "@db.example:5432/app",
        "aws_secret_access_key = '" + KEY40 + "'", "password = '" + "hunter2pass" + "'",
    ]
    with default_settings():
        plugins = [cls() for cls in get_mapping_from_secret_type_to_class().values()]
        for text in corpus + NOT_SECRETS:
            theirs = {s.type for p in plugins for s in p.analyze_line(filename="mlproject.yaml",
                                                                     line=f"value: {text}", line_number=1)}
            theirs.discard("Public IP (ipv4)")      # an IP in a URL is not a credential
            if theirs:
                assert secrets_scan.classify(text) is not None, (text[:12], theirs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_cheap_filters_never_hide_a_provider_token(data: st.DataObject) -> None:
    """classify() runs the 22 provider patterns only when one cheap regex matches, and the
    assignment detector only when a secret's word appears: whatever a pattern matches, in any
    surrounding text, must pass those filters, or a real key would go unreported."""
    name, rx = data.draw(st.sampled_from(secrets_scan._PROVIDERS))
    token = data.draw(st.from_regex(rx, fullmatch=True))
    before = data.draw(st.text(alphabet=" =:/", max_size=3))
    text = before + token
    assert secrets_scan._MAYBE_PROVIDER.search(text), (name, text)
    assert secrets_scan.classify(text) is not None, (name, text)


def test_provider_patterns_with_unicode_digits_pass_the_filters() -> None:
    """`\\d` in a provider pattern matches any Unicode digit (found by the property test above):
    a Discord-shaped token written with Arabic-Indic digits is still reported."""
    token = "M0000000000000\u0660000000000.000000.00000000000000\u0660000000000000"
    assert secrets_scan.classify(token) == "a Discord bot token"


@pytest.mark.parametrize("word", sorted(secrets_scan._SECRET_WORDS | {"key"}))
def test_every_secret_word_passes_the_name_filter(word: str) -> None:
    for name in (word, word.upper(), f"MY_{word.upper()}", f"my{word.capitalize()}"):
        assert secrets_scan._has_secret_word(name), name
