"""Governance policy at compile time: `require_pinned_data` accepts exactly the pins that identify
content, and `risk_level: high` is satisfied by an approval with named reviewers, a digest-pinned
base image and the card's descriptive fields (the refusals are the MS363/MS364/MS366/MS403 cases)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec.api import check_project

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def _codes(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    spec = tmp_path / "mlproject.yaml"
    spec.write_text(text, encoding="utf-8")
    checked = check_project(spec)
    return [(d.code, ".".join(str(p) for p in d.path)) for d in checked.diagnostics]


PINNED = """\
mlspec: 1
project: {{name: demo}}
data:
  customers: {{uri: {uri}, version: "{pin}"}}
training:
  run: python train.py
  needs: [data.customers]
  outputs: {{model: m.pkl}}
governance: {{require_pinned_data: true}}
targets: {{github_actions: {{enabled: false}}, docker: {{enabled: false}}}}
"""


@pytest.mark.parametrize("uri, pin, ok", [
    ("data/c.csv", f"sha256:{SHA}", True),
    ("data/c.csv", "dvc:d41d8cd98f00b204e9800998ecf8427e", True),
    ("data/c.csv", "dvc:" + "a" * 40, True),
    ("lakefs://repo/main/c.csv", "lakefs:" + "b" * 64, True),
    ("s3://bucket/c.csv", "s3-version:3HL4kqtJlcpXroDTDmJ.rUSH_Z1", True),
    ("data/c.csv", "v3", False),
    ("data/c.csv", "2026-11-01", False),
    ("data/c.csv", f"sha256:{SHA.upper()}", False),
    ("data/c.csv", "dvc:abc", False),
    ("data/c.csv", "s3-version:3HL4kqtJlcpXroDTDmJ", False),      # not an S3 object
    ("data/c.csv", "md5:d41d8cd98f00b204e9800998ecf8427e", False),
])
def test_only_content_pins_pass(tmp_path: Path, uri: str, pin: str, ok: bool) -> None:
    found = [c for c in _codes(tmp_path, PINNED.format(uri=uri, pin=pin)) if c[0] == "MS366"]
    assert found == ([] if ok else [("MS366", "data.customers.version")])


HIGH = """\
mlspec: 1
project: {name: demo}
environment:
  base_image: python:3.11-slim@sha256:""" + SHA + """
training:
  run: python train.py
  outputs: {model: models/model.pkl}
validation:
  run: python eval.py
  metrics: metrics.json
  gates: [{metric: auc, min: 0.8}]
  approval: {required: true, reviewers: [ml-leads]}
governance:
  risk_level: high
  intended_use: Ranking support tickets for a human agent.
  limitations: Trained on English tickets only.
  ethical_considerations: No personal data leaves the ticket system.
  out_of_scope_uses: [automatic refunds]
targets: {github_actions: {enabled: false}}
"""


def test_high_risk_is_satisfiable(tmp_path: Path) -> None:
    assert not [c for c in _codes(tmp_path, HIGH) if c[0] in ("MS363", "MS364", "MS403")]


@pytest.mark.parametrize("edit, expect", [
    (("python:3.11-slim@sha256:" + SHA, "python:3.11-slim"), ("MS403", "environment.base_image")),
    (("reviewers: [ml-leads]", "reviewers: []"), ("MS364", "validation.approval.reviewers")),
    (("required: true", "required: false"), ("MS364", "validation.approval.required")),
    (("  limitations: Trained on English tickets only.\n", ""), ("MS363", "governance")),
])
def test_high_risk_errors_point_at_what_to_fix(tmp_path: Path, edit: tuple[str, str],
                                               expect: tuple[str, str]) -> None:
    assert expect in _codes(tmp_path, HIGH.replace(*edit))
