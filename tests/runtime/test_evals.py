"""`mlspec eval`: deterministic scorers, the judge against a real local chat server (retries,
giving up, malformed replies, cache, concurrency), human review, budgets, eval scores in gates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.llm_server import ChatServer
from mlspec.diagnostics import METRIC_MISSING
from tests.runtime.conftest import codes

CASES = [
    {"id": "a", "input": "refund window?", "expected": "30 days"},
    {"id": "b", "input": "express cost?", "expected": "12 EUR"},
    {"id": "c", "input": "reset link?", "expected": "24 hours"},
    {"id": 4, "input": "json please", "expected": "{}"},
]


def spec(evals: str, judge: str = "", budgets: str = "", extra: str = "") -> str:
    return f"""mlspec: 1
project: {{name: demo}}
environment: {{secrets: [JUDGE_API_KEY]}}
data:
  golden: {{uri: data/golden.jsonl}}
{extra}llm:
  model: {{provider: openai_compatible, name: m}}
{judge}  prompts:
    answer: {{file: prompts/answer.md}}
  evals:
{evals}{budgets}"""


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLSPEC_JUDGE_BACKOFF", "0")
    (tmp_path / "data").mkdir()
    (tmp_path / "data/golden.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts/answer.md").write_text("Answer briefly.\n")
    (tmp_path / "prompts/rubric.md").write_text("Score 1 when the output gives the expected answer.\n")
    return tmp_path


def outputs(root: Path, rows: dict, name: str = "out.jsonl", **usage: object) -> None:
    (root / name).write_text("".join(json.dumps({"id": k, "output": v, **usage}) + "\n" for k, v in rows.items()))


def one_eval(name: str, scorer: str, extra: str = "", min_: float = 0.75, outputs_file: str = "out.jsonl") -> str:
    return (f"    - {{name: {name}, dataset: data.golden, outputs: {outputs_file}, scorer: {scorer}, "
            f"min: {min_}{extra}}}\n")


def judge_block(url: str, retries: int = 3, timeout: str = "5s", concurrency: int = 4) -> str:
    return (f"  judge: {{provider: openai_compatible, model: judge-small, base_url: '{url}', "
            f"api_key_secret: JUDGE_API_KEY, retries: {retries}, timeout: {timeout}, max_concurrency: {concurrency}}}\n")


# --------------------------------------------------------------------------- deterministic scorers


def test_exact_match_scores_and_writes_results(proj: Path, mlspec) -> None:
    (proj / "mlproject.yaml").write_text(spec(one_eval("exact", "exact_match")))
    outputs(proj, {"a": " 30 days\n", "b": "12 eur", "c": "24 hours", "4": "{}"})
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 0, r.output
    (res,) = r.json["results"]
    assert (res["score"], res["passed"], res["failed"]) == (0.75, 3, 1)
    lines = [json.loads(x) for x in (proj / ".mlspec/evals/exact/results.jsonl").read_text().splitlines()]
    assert {x["id"]: x["passed"] for x in lines} == {"a": True, "b": False, "c": True, "4": True}
    summary = json.loads((proj / ".mlspec/evals/exact/summary.json").read_text())
    assert summary["score"] == 0.75 and summary["prompts"]["answer"]


def test_exact_match_ignore_case_and_bound_failure(proj: Path, mlspec) -> None:
    (proj / "mlproject.yaml").write_text(spec(one_eval("exact", "exact_match", ", ignore_case: true", 1.0)))
    outputs(proj, {"a": "30 DAYS", "b": "12 eur", "c": "24 hours", "4": "{}"})
    assert mlspec("eval").exit_code == 0
    outputs(proj, {"a": "thirty days", "b": "12 eur", "c": "24 hours", "4": "{}"})
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS680"]
    assert "score 0.75 is not >= 1" in r.json["diagnostics"][0]["message"]


def test_contains_and_regex(proj: Path, mlspec) -> None:
    evals = one_eval("has", "contains") + one_eval("rx", "regex", r", pattern: '^\\d+ \\w+$'", 0.5)
    (proj / "mlproject.yaml").write_text(spec(evals))
    outputs(proj, {"a": "It is 30 days.", "b": "about 12 EUR", "c": "a day", "4": "{} ok"})
    r = mlspec("eval", "--format", "json")
    by = {x["eval"]: x for x in r.json["results"]}
    assert by["has"]["passed"] == 3 and by["rx"]["passed"] == 0
    assert r.exit_code == 1 and codes(r) == ["MS680"]  # rx: 0 of 4


def test_json_schema(proj: Path, mlspec) -> None:
    (proj / "answer.schema.json").write_text(json.dumps(
        {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "string"}}}))
    (proj / "mlproject.yaml").write_text(spec(one_eval("shape", "json_schema", ", schema: answer.schema.json", 0.5)))
    outputs(proj, {"a": '{"answer": "30 days"}', "b": {"answer": "12 EUR"}, "c": "not json", "4": '{"answer": 4}'})
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 0, r.output
    lines = {x["id"]: x for x in map(json.loads, (proj / ".mlspec/evals/shape/results.jsonl").read_text().splitlines())}
    assert [lines[k]["passed"] for k in ("a", "b", "c", "4")] == [True, True, False, False]
    assert lines["4"]["detail"].startswith("answer:")


def test_missing_output_counts_as_failed_and_unknown_id_is_an_error(proj: Path, mlspec) -> None:
    (proj / "mlproject.yaml").write_text(spec(one_eval("exact", "exact_match", min_=0.5)))
    outputs(proj, {"a": "30 days", "b": "12 EUR", "c": "24 hours"})
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 0 and codes(r) == ["MS682"]  # a warning: case 4 has no output
    assert r.json["results"][0]["passed"] == 3
    outputs(proj, {"a": "30 days", "zzz": "?"})
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS681"]


def test_run_command_failure_and_bad_outputs_are_diagnostics(proj: Path, mlspec) -> None:
    (proj / "mlproject.yaml").write_text(spec(one_eval("exact", "exact_match", ", run: 'echo boom >&2; exit 3'")))
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS681"]
    assert "exited with 3" in r.json["diagnostics"][0]["message"] and "boom" in r.json["diagnostics"][0]["message"]
    (proj / "out.jsonl").write_text("{not json\n")
    r = mlspec("eval", "--no-run", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS681"] and "line 1" in r.json["diagnostics"][0]["message"]


def test_run_command_writes_the_outputs(proj: Path, mlspec) -> None:
    (proj / "answer.py").write_text(
        "import json\nrows=[json.loads(l) for l in open('data/golden.jsonl')]\n"
        "open('out.jsonl','w').write(''.join(json.dumps({'id': r['id'], 'output': r['expected']})+'\\n' for r in rows))\n")
    (proj / "mlproject.yaml").write_text(spec(one_eval("exact", "exact_match", ", run: python answer.py", 1.0)))
    r = mlspec("eval", "--name", "exact", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["results"][0]["score"] == 1.0
    assert mlspec("eval", "--name", "exakt").exit_code == 2


def test_budgets_fail_the_eval(proj: Path, mlspec) -> None:
    budgets = "  budgets: {max_tokens_per_request: 100, latency_p95_ms: 50, cost_per_1k_requests_usd: 2}\n"
    (proj / "mlproject.yaml").write_text(spec(one_eval("exact", "exact_match"), budgets=budgets))
    good = {"a": "30 days", "b": "12 EUR", "c": "24 hours", "4": "{}"}
    outputs(proj, good, input_tokens=40, output_tokens=10, latency_ms=20, cost_usd=0.001)
    assert mlspec("eval").exit_code == 0
    outputs(proj, good, input_tokens=140, output_tokens=10, latency_ms=80, cost_usd=0.003)
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS686"] * 3
    assert r.json["results"][0]["tokens_max"] == 150


# --------------------------------------------------------------------------- the judge


def test_judge_scores_through_the_server_with_auth_cache_and_metrics(proj: Path, mlspec, monkeypatch) -> None:
    monkeypatch.setenv("JUDGE_API_KEY", "sk-test")
    with ChatServer() as server:
        (proj / "mlproject.yaml").write_text(spec(one_eval("judged", "llm_judge", ", rubric: prompts/rubric.md"),
                                                  judge=judge_block(server.base_url)))
        outputs(proj, {"a": "It is 30 days.", "b": "12 EUR", "c": "one day", "4": "{}"})
        r = mlspec("eval", "--format", "json", "--textfile", "m.prom")
        assert r.exit_code == 0, r.output
        assert r.json["results"][0]["passed"] == 3 and server.requests == 4
        assert server.auth == ["Bearer sk-test"] * 4
        prom = (proj / "m.prom").read_text()
        assert 'mlspec_llm_eval_score{project="demo",eval="judged",scorer="llm_judge"} 0.75' in prom
        # Unchanged cases come from the cache; a changed output is judged again.
        assert mlspec("eval").exit_code == 0 and server.requests == 4
        outputs(proj, {"a": "It is 30 days.", "b": "12 EUR", "c": "24 hours", "4": "{}"})
        r = mlspec("eval", "--format", "json")
        assert server.requests == 5 and r.json["results"][0]["passed"] == 4
        assert mlspec("eval", "--no-cache").exit_code == 0 and server.requests == 9


def test_judge_retries_429_500_timeouts_then_succeeds(proj: Path, mlspec) -> None:
    with ChatServer() as server:
        server.slow_seconds = 2.5
        server.failures.extend(["429", "500", "timeout", "503"])
        (proj / "mlproject.yaml").write_text(spec(one_eval("judged", "rubric", ", rubric: prompts/rubric.md"),
                                                  judge=judge_block(server.base_url, retries=4, timeout="1s",
                                                                    concurrency=1)))
        outputs(proj, {"a": "30 days", "b": "12 EUR", "c": "24 hours", "4": "{}"})
        r = mlspec("eval", "--format", "json")
        assert r.exit_code == 0, r.output
        assert r.json["results"][0]["passed"] == 4
        assert r.json["results"][0]["judge_calls"] == 8  # 4 cases + 4 retries


def test_judge_gives_up_with_a_clear_diagnostic(proj: Path, mlspec) -> None:
    with ChatServer() as server:
        server.failures.extend(["503"] * 50)
        (proj / "mlproject.yaml").write_text(spec(one_eval("judged", "llm_judge", ", rubric: prompts/rubric.md"),
                                                  judge=judge_block(server.base_url, retries=2, concurrency=1)))
        outputs(proj, {"a": "30 days", "b": "12 EUR", "c": "24 hours", "4": "{}"})
        r = mlspec("eval", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS683"]
    message = r.json["diagnostics"][0]["message"]
    assert message.startswith("eval judged:") and "last HTTP status 503" in message and "3 attempts" in message
    # It stopped asking after giving up on the first case.
    assert server.requests == 3


def test_judge_refusal_is_not_retried(proj: Path, mlspec) -> None:
    with ChatServer() as server:
        (proj / "mlproject.yaml").write_text(spec(one_eval("judged", "llm_judge", ", rubric: prompts/rubric.md"),
                                                  judge=judge_block(server.base_url + "/wrong", concurrency=1)))
        outputs(proj, {"a": "30 days", "b": "12 EUR", "c": "24 hours", "4": "{}"})
        r = mlspec("eval", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS683"] and "HTTP 404" in r.json["diagnostics"][0]["message"]
    assert server.requests == 1


def test_malformed_replies_are_per_case_errors(proj: Path, mlspec) -> None:
    with ChatServer() as server:
        server.failures.append("badbody")
        (proj / "mlproject.yaml").write_text(spec(one_eval("judged", "llm_judge", ", rubric: prompts/rubric.md", 0.25),
                                                  judge=judge_block(server.base_url, concurrency=1)))
        outputs(proj, {"a": "30 days", "b": "MALFORMED", "c": "24 hours", "4": "{}"})
        r = mlspec("eval", "--format", "json")
    assert r.exit_code == 0, r.output
    assert codes(r) == ["MS684"]
    res = r.json["results"][0]
    assert (res["errors"], res["passed"]) == (2, 2)  # the non-JSON body (first request) and the bad verdict
    lines = {x["id"]: x for x in map(json.loads, (proj / ".mlspec/evals/judged/results.jsonl").read_text().splitlines())}
    assert lines["b"]["error"].startswith("judge reply unusable: the verdict is not JSON")


def test_judge_concurrency_is_bounded(proj: Path, mlspec) -> None:
    with ChatServer() as server:
        server.delay = 0.3
        (proj / "mlproject.yaml").write_text(spec(one_eval("judged", "llm_judge", ", rubric: prompts/rubric.md"),
                                                  judge=judge_block(server.base_url, concurrency=2)))
        outputs(proj, {"a": "30 days", "b": "12 EUR", "c": "24 hours", "4": "{}"})
        assert mlspec("eval", "--no-cache").exit_code == 0
    assert server.requests == 4 and server.max_in_flight == 2  # two at once, never more


# --------------------------------------------------------------------------- human review


def test_human_review_pending_then_verdicts_pass(proj: Path, mlspec) -> None:
    (proj / "mlproject.yaml").write_text(spec(one_eval("review", "human")))
    outputs(proj, {"a": "30 days", "b": "12 EUR", "c": "24 hours", "4": "{}"})
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS685"]
    assert "4 of 4 case(s) await a verdict" in r.json["diagnostics"][0]["message"]
    path = proj / ".mlspec/reviews/review.jsonl"
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["verdict"] for x in rows] == [None] * 4 and rows[0]["output"] == "30 days"
    verdicts = {"a": True, "b": "pass", "c": 0.9, 4: False}
    path.write_text("".join(json.dumps({**x, "verdict": verdicts[x["id"]]}) + "\n" for x in rows))
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["results"][0]["score"] == 0.75
    # A changed output needs a new verdict.
    outputs(proj, {"a": "thirty days", "b": "12 EUR", "c": "24 hours", "4": "{}"})
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 1 and "1 of 4" in r.json["diagnostics"][0]["message"]


def test_bad_verdict_is_a_diagnostic(proj: Path, mlspec) -> None:
    (proj / "mlproject.yaml").write_text(spec(one_eval("review", "human")))
    outputs(proj, {"a": "30 days", "b": "12 EUR", "c": "24 hours", "4": "{}"})
    mlspec("eval")
    path = proj / ".mlspec/reviews/review.jsonl"
    path.write_text(path.read_text().replace('"verdict": null', '"verdict": "maybe"', 1))
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS687"]


# --------------------------------------------------------------------------- gates read eval scores


def test_gate_reads_eval_scores(proj: Path, mlspec) -> None:
    extra = """validation:
  run: python -c pass
  metrics: m.json
  gates:
    - {metric: evals.exact.score, min: 0.75}
"""
    (proj / "m.json").write_text("{}")
    (proj / "mlproject.yaml").write_text(spec(one_eval("exact", "exact_match", min_=0.5), extra=extra))
    r = mlspec("gate", "--format", "json")
    assert r.exit_code == 1 and codes(r) == [METRIC_MISSING]  # no summary yet: the metric is missing
    outputs(proj, {"a": "30 days", "b": "12 EUR", "c": "24 hours", "4": "{}"})
    assert mlspec("eval").exit_code == 0
    assert mlspec("gate").exit_code == 0
    outputs(proj, {"a": "30 days", "b": "12 EUR", "c": "x", "4": "x"})
    assert mlspec("eval").exit_code == 0  # 0.5 is within the eval's own bound
    assert mlspec("gate").exit_code == 1  # but not the gate's


def test_local_judge_is_called_in_process_and_a_broken_one_is_a_diagnostic(proj: Path, mlspec) -> None:
    (proj / "standin.py").write_text(
        "import json\n"
        "def chat(body):\n"
        "    user = body['messages'][1]['content']\n"
        "    return {'choices': [{'message': {'content': json.dumps({'score': 1 if '30' in user.split('Output to evaluate:')[1] else 0})}}]}\n")
    judge = "  judge: {provider: local, model: standin, entrypoint: 'standin:chat'}\n"
    (proj / "mlproject.yaml").write_text(spec(one_eval("judged", "rubric", ", rubric: prompts/rubric.md", 0.25),
                                              judge=judge))
    outputs(proj, {"a": "30 days", "b": "12 EUR", "c": "24 hours", "4": "{}"})
    r = mlspec("eval", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["results"][0]["passed"] == 1
    (proj / "mlproject.yaml").write_text(spec(one_eval("judged", "rubric", ", rubric: prompts/rubric.md", 0.25),
                                              judge=judge.replace("standin:chat", "standin:missing")))
    r = mlspec("eval", "--no-cache", "--format", "json")
    assert r.exit_code == 1 and codes(r) == ["MS687"] and "standin:missing" in r.json["diagnostics"][0]["message"]
