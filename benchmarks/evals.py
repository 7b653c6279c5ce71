"""Eval benchmarks: `python benchmarks/evals.py [--cases N] [--judge-cases N] [--json FILE]`.

1. Deterministic scoring: `mlspec eval --no-run` over N cases (default 10,000) for exact_match,
   contains, regex and json_schema — the whole command in process (spec load, JSONL read, join,
   scoring, results and summary written), plus the scorers alone.
2. Judge throughput: an llm_judge eval against the local OpenAI-compatible test server
   (127.0.0.1) with 20 ms latency a request, at concurrency 1 and 8, cache off.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from click.testing import CliRunner  # noqa: E402

from mlspec.cli import cli  # noqa: E402
from tests.llm_server import ChatServer  # noqa: E402


def write_project(root: Path, n: int, judge_url: str | None = None, concurrency: int = 8) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts/rubric.md").write_text("Score 1 when the output gives the expected answer.\n")
    (root / "schema.json").write_text(json.dumps({"type": "object", "required": ["answer"],
                                                  "properties": {"answer": {"type": "string"}}}))
    with (root / "data/golden.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"c{i}", "input": f"question {i}?", "expected": f"answer {i % 97}"}) + "\n")
    with (root / "out.jsonl").open("w") as f:
        for i in range(n):
            out = f"answer {i % 97}" if i % 10 else f"wrong {i}"
            f.write(json.dumps({"id": f"c{i}", "output": out, "input_tokens": 50, "output_tokens": 5,
                                "latency_ms": 100 + i % 50, "cost_usd": 0.0001}) + "\n")
    with (root / "json.jsonl").open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"c{i}", "output": json.dumps({"answer": f"answer {i}"})}) + "\n")
    judge = (f"  judge: {{provider: openai_compatible, model: judge-small, base_url: '{judge_url}', "
             f"max_concurrency: {concurrency}, retries: 2}}\n") if judge_url else ""
    evals = ("    - {name: exact, dataset: data.golden, outputs: out.jsonl, scorer: exact_match, min: 0.5}\n"
             "    - {name: has, dataset: data.golden, outputs: out.jsonl, scorer: contains, min: 0.5}\n"
             "    - {name: rx, dataset: data.golden, outputs: out.jsonl, scorer: regex, pattern: '^answer \\d+$', min: 0.5}\n"
             "    - {name: shape, dataset: data.golden, outputs: json.jsonl, scorer: json_schema, schema: schema.json, min: 0.5}\n")
    if judge_url:
        evals = "    - {name: judged, dataset: data.golden, outputs: out.jsonl, scorer: llm_judge, rubric: prompts/rubric.md, min: 0.5}\n"
    (root / "mlproject.yaml").write_text(
        "mlspec: 1\nproject: {name: bench}\ndata:\n  golden: {uri: data/golden.jsonl}\nllm:\n"
        f"  model: {{provider: openai, name: m}}\n{judge}  evals:\n{evals}")


def run_eval(root: Path, *args: str) -> tuple[float, dict]:
    old = os.getcwd()
    os.chdir(root)
    try:
        t = time.perf_counter()
        r = CliRunner().invoke(cli, ["eval", "--no-run", "--no-push", "--format", "json", *args])
        seconds = time.perf_counter() - t
    finally:
        os.chdir(old)
    if r.exit_code != 0:
        raise SystemExit(f"eval failed ({r.exit_code}): {r.output[:2000]}")
    return seconds, json.loads(r.stdout)


def deterministic(n: int) -> dict:
    from mlspec.runtime import evals as E

    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root, n)
        run_eval(root, "--name", "rx")  # warm-up: imports and the first spec load
        for name in ("exact", "has", "rx", "shape"):
            seconds, payload = run_eval(root, "--name", name)
            res = payload["results"][0]
            out[name] = {"cases": res["cases"], "seconds": round(seconds, 3),
                         "cases_per_second": round(res["cases"] / seconds), "score": res["score"]}
        # The scorers alone (no I/O).
        import jsonschema
        import re

        rows = [(f"answer {i % 97}", f"answer {i % 97}") for i in range(n)]
        validator = jsonschema.Draft202012Validator({"type": "object", "required": ["answer"]})
        pattern = re.compile(r"^answer \d+$")
        for name, fn in (("exact", lambda o, e: E.score_exact(o, e)), ("contains", lambda o, e: E.score_contains(o, e)),
                         ("regex", lambda o, e: E.score_regex(o, pattern)),
                         ("json_schema", lambda o, e: E.score_json_schema('{"answer": "x"}', validator))):
            t = time.perf_counter()
            for o, e in rows:
                fn(o, e)
            s = time.perf_counter() - t
            out[f"scorer_only_{name}"] = {"cases": n, "seconds": round(s, 4), "cases_per_second": round(n / s)}
    return out


def judge(n: int, delay: float) -> dict:
    out = {}
    with ChatServer() as server:
        server.delay = delay
        for concurrency in (1, 8):
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                write_project(root, n, server.base_url, concurrency)
                before = server.requests
                seconds, payload = run_eval(root, "--no-cache")
                res = payload["results"][0]
                out[f"concurrency_{concurrency}"] = {
                    "cases": n, "requests": server.requests - before, "seconds": round(seconds, 3),
                    "requests_per_second": round((server.requests - before) / seconds, 1), "score": res["score"]}
                # Second run: every verdict from the cache.
                before = server.requests
                seconds, _ = run_eval(root)
                assert server.requests == before, "the re-run should not ask the judge"
                out[f"concurrency_{concurrency}"]["cached_rerun_seconds"] = round(seconds, 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--judge-cases", type=int, default=400)
    ap.add_argument("--judge-latency-ms", type=float, default=20.0)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result = {"deterministic": deterministic(args.cases),
              "judge": judge(args.judge_cases, args.judge_latency_ms / 1000),
              "judge_latency_ms": args.judge_latency_ms}
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
