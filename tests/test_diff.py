"""`mlspec diff`: the Plan comparison in reviewer terms, its reports, and the git base."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlspec.api import check_project, emit_artifacts
from mlspec.compiler.diff import Change, PlanDiff, diff_plans

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = (ROOT / "examples" / "reference" / "mlproject.yaml").read_text(encoding="utf-8")


def edit(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def compiled(tmp: Path, text: str, name: str) -> tuple[object, list]:
    folder = tmp / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mlproject.yaml").write_text(text, encoding="utf-8")
    checked = check_project(folder / "mlproject.yaml", out_dir=folder)
    assert checked.ok, [d.message for d in checked.diagnostics if d.is_error]
    return checked.plan, emit_artifacts(checked.plan, checked.target_options)


def diff(tmp: Path, old: str, new: str, **files: dict[str, str | None]) -> PlanDiff:
    a, arts_a = compiled(tmp, old, "old")
    b, arts_b = compiled(tmp, new, "new")
    return diff_plans(a, b, old_artifacts=arts_a, new_artifacts=arts_b,
                      old_files=files.get("old_files"), new_files=files.get("new_files"))


def find(d: PlanDiff, subject: str) -> Change:
    matches = [c for c in d.changes if c.subject == subject]
    assert len(matches) == 1, (subject, [c.subject for c in d.changes])
    return matches[0]


# ---------------------------------------------------------------------------- the Plan diff


def test_identical_specs_have_no_changes(tmp_path: Path) -> None:
    result = diff(tmp_path, REFERENCE, REFERENCE)
    assert result.empty and result.risky == ()


def test_gate_loosened_and_tightened_are_told_apart(tmp_path: Path) -> None:
    new = edit(REFERENCE, ("      min: 0.80", "      min: 0.75"), ("      max: 50", "      max: 40"),
               ("max_regression: 0.01", "max_regression: 0.05"))
    result = diff(tmp_path, REFERENCE, new)
    lowered = find(result, "gate roc_auc min")
    assert (lowered.effect, lowered.old, lowered.new, lowered.risky) == ("loosened", "0.8", "0.75", True)
    assert lowered.risk == "gate roc_auc min loosened from 0.8 to 0.75"
    tightened = find(result, "gate p95_latency_ms max")
    assert (tightened.effect, tightened.risky) == ("tightened", False)
    regression = find(result, "gate roc_auc vs production max_regression")
    assert (regression.effect, regression.risky) == ("loosened", True)
    assert [c.subject for c in result.risky] == ["gate roc_auc min", "gate roc_auc vs production max_regression"]


def test_max_raised_is_loosened_and_a_removed_gate_is_risky(tmp_path: Path) -> None:
    new = edit(REFERENCE, ("      max: 50", "      max: 80"),
               ("    - metric: roc_auc\n      baseline: production         # compare with the model now in production\n"
                "      max_regression: 0.01\n", ""))
    result = diff(tmp_path, REFERENCE, new)
    assert find(result, "gate p95_latency_ms max").effect == "loosened"
    removed = find(result, "gate roc_auc vs production")
    assert removed.effect == "removed" and removed.risky and removed.old == "max_regression 0.01"


def test_a_new_gate_is_added_not_risky(tmp_path: Path) -> None:
    new = edit(REFERENCE, ("    - metric: p95_latency_ms\n", "    - metric: f1\n      min: 0.6\n    - metric: p95_latency_ms\n"))
    added = find(diff(tmp_path, REFERENCE, new), "gate f1")
    assert added.effect == "added" and not added.risky and added.new == "min 0.6"


def test_monitoring_thresholds_loosen_without_being_risky(tmp_path: Path) -> None:
    new = edit(REFERENCE, ("      threshold: 0.2", "      threshold: 0.3"),      # psi: higher alerts less
               ("      threshold: 0.01 ", "      threshold: 0.001 "),          # chi2 p-value: lower alerts less
               ("    min: 0.75\n    labels", "    min: 0.7\n    labels"),
               ("availability: 0.995", "availability: 0.99"))
    result = diff(tmp_path, REFERENCE, new)
    for subject in ("drift tenure_months (psi) threshold", "drift contract (chi2) threshold",
                    "live performance roc_auc min", "SLO availability"):
        change = find(result, subject)
        assert change.effect == "loosened" and not change.risky, subject


def test_eval_bound_loosened_is_risky(tmp_path: Path) -> None:
    new = edit(REFERENCE, ("      min: 0.8\n  budgets", "      min: 0.6\n  budgets"))
    change = find(diff(tmp_path, REFERENCE, new), "LLM eval faithfulness min")
    assert change.effect == "loosened" and change.risky


def test_approval_dropped_and_reviewers_removed_are_risky(tmp_path: Path) -> None:
    no_reviewers = edit(REFERENCE, ("    reviewers: [growth-ml-leads]", "    reviewers: []"))
    change = find(diff(tmp_path, REFERENCE, no_reviewers), "approval reviewer growth-ml-leads")
    assert change.effect == "removed" and change.risky
    dropped = edit(REFERENCE, ("    required: true", "    required: false"))
    result = diff(tmp_path / "b", REFERENCE, dropped)
    change = find(result, "approval before release")
    assert change.effect == "removed" and change.risk == "approval dropped: releases no longer wait for a person"
    assert find(result, "node approve").effect == "removed"


def test_a_secret_reaching_a_new_node_is_risky(tmp_path: Path) -> None:
    old = edit(REFERENCE, ("    retries: 2\n", "    retries: 2\n    secrets: []\n"))
    new = edit(REFERENCE, ("    retries: 2\n", "    retries: 2\n    secrets: [AWS_ACCESS_KEY_ID]\n"))
    result = diff(tmp_path, old, new)
    node = find(result, "secret AWS_ACCESS_KEY_ID → nodes")
    assert node.risky and node.new == "node step.prepare"
    # step.prepare shares the job `train` with the data check, which already reads every secret
    # (and the job's store steps read this one): no job gains it, so no job-level change.
    assert not [c for c in result.changes if c.subject.startswith("secret AWS_ACCESS_KEY_ID → jobs in ")]
    # The other direction is a removal, not a risk.
    back = diff(tmp_path / "b", new, old)
    assert not back.risky and find(back, "secret AWS_ACCESS_KEY_ID → nodes").effect == "removed"


def test_a_secret_reaching_a_new_job_is_risky(tmp_path: Path) -> None:
    fan_out = """\
mlspec: 1
project: {name: fan}
environment: {secrets: [TOKEN]}
steps:
  a: {run: ./a.sh, secrets: []}
  b: {run: ./b.sh, needs: [steps.a], secrets: []}
  c: {run: ./c.sh, needs: [steps.a], secrets: []}
training: {run: ./train.sh, needs: [steps.b, steps.c], outputs: {model: m.bin}, secrets: []}
"""
    result = diff(tmp_path, fan_out, edit(fan_out, ("./b.sh, needs: [steps.a], secrets: []",
                                                   "./b.sh, needs: [steps.a], secrets: [TOKEN]")))
    job = next(c for c in result.risky if c.subject.startswith("secret TOKEN → jobs in .github/workflows/"))
    assert job.new == "job step-b"


def test_permissions_widened_by_pushing_to_ghcr(tmp_path: Path) -> None:
    old = edit(REFERENCE, ("  docker: {enabled: true, registry: ghcr.io/example}", "  docker: {enabled: true}"))
    result = diff(tmp_path, old, REFERENCE)
    changes = [c for c in result.changes if c.section == "permissions"]
    build = find(result, ".github/workflows/churn-train.yml job build: packages")
    assert (build.effect, build.old, build.new, build.risky) == ("widened", "none", "write", True)
    # A new job: its write scopes are risky, its read scopes merely added.
    for c in changes:
        assert c.risky == (c.new == "write"), c
        assert c.effect == ("widened" if c.new == "write" else "added"), c
    narrowed = [c for c in diff(tmp_path / "b", REFERENCE, old).changes if c.section == "permissions"]
    assert narrowed and all(c.effect == "narrowed" and not c.risky for c in narrowed)


def test_an_alert_event_that_loses_its_route_is_risky(tmp_path: Path) -> None:
    new = edit(REFERENCE, ("on: [data_drift, concept_drift, pipeline_drift, slo, freshness, pipeline_failure, budget]",
                           "on: [data_drift, concept_drift, pipeline_drift, slo, freshness, budget]"))
    result = diff(tmp_path, REFERENCE, new)
    assert find(result, "alert route slack #growth-ml-alerts: pipeline_failure").effect == "removed"
    lost = find(result, "pipeline_failure alerts")
    assert lost.risky and lost.old == "slack #growth-ml-alerts"
    # A route that moves to another channel keeps the event routed: not risky.
    moved = edit(REFERENCE, ('to: "#growth-ml-alerts"', 'to: "#ml-oncall"'))
    assert not diff(tmp_path / "b", REFERENCE, moved).risky


def test_schedules_images_resources_data_params(tmp_path: Path) -> None:
    new = edit(REFERENCE, ('schedule: "0 3 * * 1"', 'schedule: "0 4 * * 1"'),
               ("base_image: python:3.11-slim", "base_image: python:3.12-slim"),
               ("resources: {cpu: 4, memory: 8Gi, gpu: 0}", "resources: {cpu: 8, memory: 16Gi, gpu: 0}"),
               ('version: sha256:3bc38421554371d9eae495b9a6fd1e3ba79fa1e10039a34690c55262a53265e7', 'version: sha256:0000000000000000000000000000000000000000000000000000000000000001'), ("n_estimators: 300", "n_estimators: 500"))
    result = diff(tmp_path, REFERENCE, new)
    assert (find(result, "retraining schedule").old, find(result, "retraining schedule").new) == ("0 3 * * 1", "0 4 * * 1")
    assert find(result, "base image").new == "python:3.12-slim"
    image = find(result, "image in docker/churn.train.Dockerfile")
    assert (image.old, image.new) == ("python:3.11-slim", "python:3.12-slim")
    assert (find(result, "node train").old, find(result, "node train").new) == ("cpu 4, memory 8Gi", "cpu 8, memory 16Gi")
    assert (find(result, "data customers version").old, find(result, "data customers version").new) == (
        "sha256:3bc38421554371d9eae495b9a6fd1e3ba79fa1e10039a34690c55262a53265e7", "sha256:0000000000000000000000000000000000000000000000000000000000000001")
    assert find(result, "param n_estimators").new == "500"
    assert not result.risky


def test_prompt_hash_changes_are_reported(tmp_path: Path) -> None:
    result = diff(tmp_path, REFERENCE, REFERENCE, old_files={"prompts/answer.md": "a" * 64},
                  new_files={"prompts/answer.md": "b" * 64})
    change = find(result, "prompt answer content (sha256)")
    assert (change.old, change.new) == ("a" * 12, "b" * 12)


def test_nodes_and_edges(tmp_path: Path) -> None:
    new = edit(REFERENCE, ("steps:\n", "steps:\n  featurize:\n    run: python -m churn.features\n"
                                       "    needs: [steps.prepare]\n"),
               ("  needs: [steps.prepare]\n  seed", "  needs: [steps.featurize]\n  seed"))
    result = diff(tmp_path, REFERENCE, new)
    added = find(result, "node step.featurize")
    assert added.effect == "added" and added.new is not None and added.new.endswith("; needs step.prepare")
    assert find(result, "step.prepare → train").effect == "removed"


def test_artifact_line_counts_match_difflib(tmp_path: Path) -> None:
    import difflib

    new = edit(REFERENCE, ("      min: 0.80", "      min: 0.75"))
    a, arts_a = compiled(tmp_path, REFERENCE, "old")
    b, arts_b = compiled(tmp_path, new, "new")
    result = diff_plans(a, b, old_artifacts=arts_a, new_artifacts=arts_b)
    by_path = {x.path: x for x in arts_a}
    assert result.artifacts
    for delta in result.artifacts:
        before, after = by_path[delta.path].content.splitlines(), next(x for x in arts_b if x.path == delta.path).content.splitlines()
        lines = list(difflib.unified_diff(before, after, lineterm="", n=0))
        assert delta.added == sum(1 for line in lines[2:] if line.startswith("+"))
        assert delta.removed == sum(1 for line in lines[2:] if line.startswith("-"))


def test_no_base_plan_reports_everything_as_added(tmp_path: Path) -> None:
    b, arts = compiled(tmp_path, REFERENCE, "new")
    result = diff_plans(None, b, new_artifacts=arts)
    assert {a.status for a in result.artifacts} == {"added"}
    assert all(c.effect in ("added", "tightened", "widened") for c in result.changes)
    # New jobs holding write scopes are risky; read-only ones are merely added.
    assert any(c.section == "permissions" and c.risky for c in result.changes)


# ---------------------------------------------------------------------------- the CLI and git


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_CONFIG_NOSYSTEM": "1",
           "HOME": str(cwd)}
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=env).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path / "repo"
    project = root / "models" / "churn"
    project.mkdir(parents=True)
    (project / "mlproject.yaml").write_text(REFERENCE)
    (project / "prompts").mkdir()
    (project / "prompts" / "answer.md").write_text("Answer briefly.\n")
    (project / "prompts" / "rubric.md").write_text("Score 0-1.\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def test_default_base_is_the_merge_base_with_main(repo: Path) -> None:
    spec = repo / "models" / "churn" / "mlproject.yaml"
    spec.write_text(edit(REFERENCE, ("      min: 0.80", "      min: 0.75")))
    (repo / "models" / "churn" / "prompts" / "answer.md").write_text("Answer in detail.\n")
    git(repo, "commit", "-qam", "loosen")
    result = run("diff", "models/churn/mlproject.yaml", "--format", "json", cwd=repo)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["base"] == "merge base with main"
    assert data["base_commit"] == git(repo, "rev-parse", "main").strip()
    assert [c["subject"] for c in data["risky"]] == ["gate roc_auc min"]
    prompt = next(c for c in data["changes"] if c["subject"] == "prompt answer content (sha256)")
    assert prompt["old"] != prompt["new"]
    # The spec on disk is compared, committed or not; run from inside the project too.
    spec.write_text(REFERENCE)
    again = run("diff", "--format", "json", cwd=spec.parent)
    assert json.loads(again.stdout)["changes"] == [prompt]


def test_github_base_ref_wins(repo: Path) -> None:
    git(repo, "branch", "release", "main")
    git(repo, "checkout", "-q", "release")
    (repo / "models" / "churn" / "mlproject.yaml").write_text(edit(REFERENCE, ("      max: 50", "      max: 45")))
    git(repo, "commit", "-qam", "release tweak")
    git(repo, "checkout", "-q", "-b", "pr")
    result = run("diff", "models/churn/mlproject.yaml", "--format", "json", cwd=repo,
                 env={"GITHUB_BASE_REF": "release"})
    data = json.loads(result.stdout)
    assert data["base"] == "merge base with release" and data["changes"] == []


def test_explicit_base_and_unknown_revision(repo: Path) -> None:
    spec = "models/churn/mlproject.yaml"
    result = run("diff", spec, "--base", "HEAD", cwd=repo)
    assert result.returncode == 0 and "no changes" in result.stdout
    bad = run("diff", spec, "--base", "no-such-branch", cwd=repo)
    assert bad.returncode == 1 and "error[MS630]: unknown revision 'no-such-branch'" in bad.stderr
    option = run("diff", spec, "--base", "--output=x", cwd=repo)
    assert option.returncode == 1 and "MS630" in option.stderr and not (repo / "x").exists()
    both = run("diff", spec, "--base", "HEAD", "--base-file", spec, cwd=repo)
    assert both.returncode == 2


def test_spec_absent_at_base_is_a_warning_and_all_is_added(repo: Path) -> None:
    other = repo / "models" / "fraud"
    other.mkdir()
    (other / "mlproject.yaml").write_text(REFERENCE.replace("name: churn ", "name: fraud "))
    result = run("diff", "models/fraud/mlproject.yaml", "--format", "json", cwd=repo)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [d["code"] for d in data["diagnostics"]] == ["MS631"]
    assert data["changes"] and all(c["effect"] in ("added", "widened", "tightened") for c in data["changes"])


def test_invalid_base_spec_is_a_warning(repo: Path) -> None:
    spec = repo / "models" / "churn" / "mlproject.yaml"
    spec.write_text(REFERENCE.replace("mlspec: 1", "mlspec: 2"))
    git(repo, "commit", "-qam", "broken")
    spec.write_text(REFERENCE)
    result = run("diff", "models/churn/mlproject.yaml", "--base", "HEAD", cwd=repo)
    assert result.returncode == 0
    assert "warning[MS634]" in result.stderr and "MS107" in result.stderr


def test_invalid_current_spec_and_missing_base_file_exit_1(repo: Path, tmp_path: Path) -> None:
    spec = repo / "models" / "churn" / "mlproject.yaml"
    result = run("diff", "models/churn/mlproject.yaml", "--base-file", "nope.yaml", cwd=repo)
    assert result.returncode == 1 and "MS001" in result.stderr
    spec.write_text(REFERENCE.replace("project:", "projcet:"))
    result = run("diff", "models/churn/mlproject.yaml", cwd=repo)
    assert result.returncode == 1 and "error[MS101]" in result.stderr and "Traceback" not in result.stderr


def test_outside_a_repository(tmp_path: Path) -> None:
    (tmp_path / "mlproject.yaml").write_text(REFERENCE)
    result = run("diff", cwd=tmp_path, env={"GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})
    assert result.returncode == 1 and "error[MS632]" in result.stderr
    base = tmp_path / "old.yaml"
    base.write_text(edit(REFERENCE, ("      min: 0.80", "      min: 0.85")))
    ok = run("diff", "--base-file", "old.yaml", cwd=tmp_path)
    assert ok.returncode == 0 and "loosened   gate roc_auc min: 0.85 → 0.8" in ok.stdout
    # A base under another file name compiles under the current one: commands do not all change.
    assert "command" not in ok.stdout


def test_markdown_renders_on_github_and_is_deterministic(tmp_path: Path) -> None:
    import cmarkgfm
    from cmarkgfm.cmark import Options

    (tmp_path / "mlproject.yaml").write_text(edit(REFERENCE, ("      min: 0.80", "      min: 0.75"),
                                                  ("--max-depth ${params.max_depth}",
                                                   "--max-depth ${params.max_depth} --note '<img src=x onerror=alert(1)> | `x`'")))
    (tmp_path / "old.yaml").write_text(REFERENCE)
    outputs = {run("diff", "--base-file", "old.yaml", "--format", "markdown", cwd=tmp_path,
                   env={"PYTHONHASHSEED": seed}).stdout for seed in ("0", "1", "12345")}
    assert len(outputs) == 1
    text = outputs.pop()
    assert text.startswith("<!-- mlspec-diff -->\n### mlspec diff: churn\n")
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    assert html.count("<table>") >= 3
    assert "<h4>⚠️ Risky changes</h4>" in html or "<h4>:warning: Risky changes</h4>" in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    # The hostile command stays inside its table cell: every row has four cells.
    for row in html.split("<tr>")[1:]:
        assert row.count("<td") in (0, 4), row


def test_churn_example_diff_timing(tmp_path: Path) -> None:
    """The whole command on the real example, base from git, within a few seconds."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    shutil.copytree(ROOT / "examples" / "churn", tmp_path / "churn")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "base")
    spec = tmp_path / "churn" / "mlproject.yaml"
    spec.write_text(edit(spec.read_text(), ("      min: 0.75\n", "      min: 0.70\n")))
    start = time.perf_counter()
    result = run("diff", "churn/mlproject.yaml", "--format", "markdown", cwd=tmp_path)
    seconds = time.perf_counter() - start
    assert result.returncode == 0, result.stderr
    assert "gate roc\\_auc min loosened from 0\\.75 to 0\\.7" in result.stdout
    assert seconds < 30, seconds


def test_a_target_switched_off_is_told(tmp_path: Path) -> None:
    a, _ = compiled(tmp_path, REFERENCE, "old")
    result = diff_plans(a, a, old_targets=["github_actions", "prometheus"], new_targets=["github_actions"])
    change = find(result, "target prometheus")
    assert (change.effect, change.old, change.new) == ("removed", "enabled", "disabled")
