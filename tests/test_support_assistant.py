"""examples/support-assistant end to end with `mlspec run`: offline, evals pass and the index is
registered; editing one prompt re-runs only the evals that use it; a prompt edit that breaks the
exact answers stops the release."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "support-assistant"


def run(root: Path) -> tuple[int, dict[str, str], str]:
    proc = subprocess.run([sys.executable, "-m", "mlspec", "run", "--format", "json"], cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    payload = json.loads(proc.stdout)
    return proc.returncode, {n["id"]: n["status"] for n in payload["nodes"]}, proc.stderr


def versions(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / ".mlspec/registry").rglob("metadata.json"))]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "support-assistant"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".mlspec", "build", "outputs", "metrics",
                                                                   "__pycache__"))
    return root


def test_runs_offline_evals_pass_registered_and_prompt_edits_rerun_only_their_evals(project: Path) -> None:
    code, status, err = run(project)
    assert code == 0, err
    assert status == {"check.golden": "ok", "train": "ok", "evaluate": "ok", "eval.answers_exact": "ok",
                      "eval.helpfulness": "ok", "gate": "ok", "register": "ok"}
    summary = json.loads((project / ".mlspec/evals/answers_exact/summary.json").read_text())
    assert summary["score"] == 1.0 and summary["cases"] == 10
    (v1,) = versions(project)
    prompts = v1["lineage"]["llm"]["prompt_sha256"]
    assert set(prompts) == {"answer", "explain"} and all(len(h) == 64 for h in prompts.values())

    # An edit elsewhere in the spec re-runs no eval.
    spec = project / "mlproject.yaml"
    spec.write_text(spec.read_text().replace("(retrieval plus an LLM)", "(retrieval and an LLM)"))
    code, status, err = run(project)
    assert code == 0, err
    assert set(status.values()) == {"cached"}, status

    # A wording change to the explanation prompt re-runs the judged eval only (and the release after it).
    explain = project / "prompts/explain.md"
    explain.write_text(explain.read_text() + "Be warm.\n")
    code, status, err = run(project)
    assert code == 0, err
    assert status["eval.helpfulness"] == "ok" and status["eval.answers_exact"] == "cached"
    assert status["train"] == status["evaluate"] == status["check.golden"] == "cached"
    assert len(versions(project)) == 2
    assert versions(project)[1]["lineage"]["llm"]["prompt_sha256"]["explain"] != prompts["explain"]

    # Dropping "exact value only" makes the stand-in answer in sentences: exact match falls to 0.
    answer = project / "prompts/answer.md"
    answer.write_text(answer.read_text().replace("Reply with the exact value only", "Reply helpfully"))
    code, status, err = run(project)
    assert code == 1
    assert status["eval.answers_exact"] == "failed" and status["eval.helpfulness"] == "cached"
    assert status["gate"] == status["register"] == "skipped"
    assert len(versions(project)) == 2
    summary = json.loads((project / ".mlspec/evals/answers_exact/summary.json").read_text())
    assert summary["score"] == 0.0 and summary["ok"] is False
    # The gate, run by hand, fails on the same score.
    gate = subprocess.run([sys.executable, "-m", "mlspec", "gate", "--format", "json"], cwd=project,
                          capture_output=True, text=True, timeout=300)
    assert gate.returncode == 1
    failed = [r["id"] for r in json.loads(gate.stdout)["results"] if not r["passed"]]
    assert failed == ["evals_answers_exact_score_min"]


def _mlspec(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    proc = subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=root, capture_output=True, text=True,
                          timeout=600, env={**os.environ, **(env or {})})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _input_series(textfile: Path) -> list[dict[str, str]]:
    """The series of a textfile an eval wrote, as promtool input series holding their value."""
    series = []
    for line in textfile.read_text().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            series.append({"series": name, "values": f"{value}+0x10"})
    return series


@pytest.mark.validator
def test_eval_budget_alerts_fire_on_the_series_a_real_eval_run_wrote(project: Path, tmp_path: Path) -> None:
    """Two real runs of the exact-answers eval: at the stand-in's price it is within every budget;
    at 200x that price its cost per 1000 requests is over `cost_per_1k_requests_usd`. Their
    textfiles, replayed by promtool against the generated rules, fire the budget alert for the
    second run only, for the cost budget only."""
    import yaml

    from tests import validators as V

    assert _mlspec(project, "run", "--until", "train", "--no-monitoring").returncode == 0
    under, over = tmp_path / "under.prom", tmp_path / "over.prom"
    r = _mlspec(project, "eval", "--name", "answers_exact", "--no-push", "--textfile", str(under))
    assert r.returncode == 0, r.stdout + r.stderr
    r = _mlspec(project, "eval", "--name", "answers_exact", "--no-cache", "--no-push", "--textfile", str(over),
                "--format", "json", env={"ASSISTANT_PRICE_PER_1K_TOKENS": "0.1"})
    assert r.returncode == 1 and [d["code"] for d in json.loads(r.stdout)["diagnostics"]] == ["MS686"], r.stdout
    measured = {b["name"]: b for b in json.loads(r.stdout)["results"][0]["budgets"]}
    cost = measured["cost_per_1k_requests_usd"]
    assert cost["exceeded"] and not measured["max_tokens_per_request"]["exceeded"]
    assert 'budget="cost_per_1k_requests_usd"' in over.read_text()

    rules = project / "monitoring/prometheus/helpdesk.rules.yml"
    rule = next(r for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]
                if r.get("alert") == "MlspecLlmEvalOverBudget" and r["labels"]["budget"] == "cost_per_1k_requests_usd")
    labels = {"project": "helpdesk", "event": "budget", "severity": "warning", "budget": "cost_per_1k_requests_usd",
              "eval": "answers_exact"}
    annotations = {
        "summary": "An LLM eval of helpdesk is over its cost_per_1k_requests_usd budget",
        "description": f"Eval answers_exact measured {cost['value']:.4g} USD per 1000 requests; "
                       "the budget is 1 USD per 1000 requests.",
        "runbook_url": rule["annotations"]["runbook_url"]}
    test = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": _input_series(under),
         "alert_rule_test": [{"eval_time": "5m", "alertname": "MlspecLlmEvalOverBudget", "exp_alerts": []}]},
        {"interval": "1m", "input_series": _input_series(over),
         "alert_rule_test": [{"eval_time": "5m", "alertname": "MlspecLlmEvalOverBudget",
                              "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}]}]},
    ]}
    test_file = tmp_path / "budget.test.yml"
    test_file.write_text(yaml.safe_dump(test, sort_keys=False))
    assert V.promtool_test_rules([test_file]) == []


def test_an_eval_reads_its_golden_set_over_http(project: Path) -> None:
    """A golden set served over HTTP (here a loopback server) is downloaded, checked against its
    sha256 pin and scored; a changed file at the source is refused, not scored."""
    import hashlib
    import threading
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    served = project.parent / "served"
    served.mkdir()
    golden = (project / "data" / "golden.jsonl").read_bytes()
    (served / "golden.jsonl").write_bytes(golden)
    handler = partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/golden.jsonl"
        spec = project / "mlproject.yaml"
        text = spec.read_text()
        assert "    uri: data/golden.jsonl\n    version: v1\n" in text
        spec.write_text(text.replace("    uri: data/golden.jsonl\n    version: v1\n",
                                     f"    uri: {url}\n    version: sha256:{hashlib.sha256(golden).hexdigest()}\n"))
        # The outputs as the assistant would write them: every answer right.
        cases = [json.loads(line) for line in golden.decode().splitlines() if line.strip()]
        (project / "outputs").mkdir(exist_ok=True)
        (project / "outputs" / "answers.jsonl").write_text(
            "".join(json.dumps({"id": c["id"], "output": c["expected"]}) + "\n" for c in cases))
        r = _mlspec(project, "eval", "--name", "answers_exact", "--no-run", "--no-push", "--format", "json")
        assert r.returncode == 0, r.stdout[-2000:]
        (result,) = json.loads(r.stdout)["results"]
        assert result["score"] == 1.0 and result["cases"] == len(cases)

        (served / "golden.jsonl").write_bytes(golden + b'{"id": "new", "input": "?", "expected": "!"}\n')
        r = _mlspec(project, "eval", "--name", "answers_exact", "--no-run", "--no-cache", "--no-push",
                    "--format", "json")
        assert r.returncode == 1
        assert any("does not match its pin" in d["message"] for d in json.loads(r.stdout)["diagnostics"])
    finally:
        httpd.shutdown()
        httpd.server_close()
