"""LLM evals: run an eval's command, join its outputs with the dataset by ``id``, score each case.

Scorers: ``exact_match``, ``contains``, ``regex``, ``json_schema`` (deterministic, in process),
``rubric`` / ``llm_judge`` (a judge model over an OpenAI-compatible ``/chat/completions`` API, or a
local stand-in in the project's code) and ``human`` (a review file people fill in). An eval's score
is the share of its cases that passed. Results go to ``.mlspec/evals/<name>/`` (``results.jsonl``,
one line a case, and ``summary.json``, which gates read as ``evals.<name>.<field>``).

Standard library only, plus ``jsonschema`` (a dependency of mlspec) for the json_schema scorer.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlspec import diagnostics as dx
from mlspec.compiler.plan import Judge, LlmEval, Plan
from mlspec.runtime.common import Failure, json_text, write_atomic

EVALS_DIR = Path(".mlspec") / "evals"
REVIEWS_DIR = Path(".mlspec") / "reviews"
JUDGE_CACHE_DIR = Path(".mlspec") / "cache" / "judge"
JUDGED = ("rubric", "llm_judge")
PASS_MARK = 0.5            # a judge or reviewer score at or above this passes the case
MAX_LINE = 1 << 20         # one JSONL line; longer is refused, not read into memory whole
RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
BACKOFF_CAP = 30.0


def _backoff_base() -> float:
    """Seconds before the first retry (doubled each time); MLSPEC_JUDGE_BACKOFF overrides it."""
    try:
        return max(0.0, float(os.environ.get("MLSPEC_JUDGE_BACKOFF", "0.5")))
    except ValueError:
        return 0.5


# --------------------------------------------------------------------------- results


@dataclass
class CaseResult:
    id: str
    passed: bool
    score: float | None = None          # 0–1; exact scorers give 1 or 0
    error: str | None = None            # could not be scored (counts as not passed)
    detail: str | None = None           # why it failed, or the judge's reason
    output: Any = None
    expected: Any = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    latency_ms: float | None = None
    cost_usd: float | None = None
    cached: bool = False                # the judge's verdict came from the cache


@dataclass
class Budget:
    name: str                           # max_tokens_per_request, latency_p95_ms, cost_per_1k_requests_usd
    value: float
    bound: float

    @property
    def exceeded(self) -> bool:
        return self.value > self.bound


@dataclass
class EvalResult:
    name: str
    scorer: str
    cases: list[CaseResult] = field(default_factory=list)
    min: float | None = None
    max: float | None = None
    budgets: list[Budget] = field(default_factory=list)
    judge_calls: int = 0                # requests sent (retries included)
    seconds: float = 0.0
    pending: int = 0                    # human: cases awaiting a verdict
    gave_up: str | None = None          # judge: why it stopped

    @property
    def passed_count(self) -> int:
        return sum(c.passed for c in self.cases)

    @property
    def errors(self) -> int:
        return sum(c.error is not None for c in self.cases)

    @property
    def score(self) -> float | None:
        return self.passed_count / len(self.cases) if self.cases else None

    @property
    def in_bounds(self) -> bool:
        s = self.score
        if s is None:
            return False
        return (self.min is None or s >= self.min) and (self.max is None or s <= self.max)

    @property
    def ok(self) -> bool:
        return (self.in_bounds and not self.pending and self.gave_up is None
                and not any(b.exceeded for b in self.budgets))

    def bound_text(self) -> str:
        parts = ([f">= {self.min:g}"] if self.min is not None else []) + (
            [f"<= {self.max:g}"] if self.max is not None else [])
        return " and ".join(parts) or "none"

    def usage(self) -> dict[str, float]:
        tin = sum(c.input_tokens or 0 for c in self.cases)
        tout = sum(c.output_tokens or 0 for c in self.cases)
        cost = sum(c.cost_usd or 0.0 for c in self.cases)
        return {"requests": float(sum(c.output is not None for c in self.cases)), "input_tokens": float(tin),
                "output_tokens": float(tout), "cost_usd": cost}

    def summary(self) -> dict[str, Any]:
        """What `summary.json` holds; gates read these fields as ``evals.<name>.<field>``."""
        budget = {b.name: b.value for b in self.budgets}
        return {
            "eval": self.name, "scorer": self.scorer, "score": self.score, "cases": len(self.cases),
            "passed": self.passed_count, "failed": len(self.cases) - self.passed_count, "errors": self.errors,
            "min": self.min, "max": self.max, "ok": self.ok, "pending_reviews": self.pending,
            "tokens_max": budget.get("max_tokens_per_request"), "latency_p95_ms": budget.get("latency_p95_ms"),
            "cost_per_1k_requests_usd": budget.get("cost_per_1k_requests_usd"),
            "budgets": [{"name": b.name, "value": b.value, "bound": b.bound, "exceeded": b.exceeded}
                        for b in self.budgets],
            "usage": self.usage(), "judge_calls": self.judge_calls, "seconds": round(self.seconds, 3),
        }


# --------------------------------------------------------------------------- files


def read_jsonl(path: Path, shown: str, what: str, code: str) -> list[dict[str, Any]]:
    """Objects, one a line (blank lines skipped); anything else is a Failure naming the line."""
    rows: list[dict[str, Any]] = []
    try:
        with path.open("rb") as f:
            for number, raw in enumerate(iter(lambda: f.readline(MAX_LINE + 1), b""), start=1):
                if len(raw) > MAX_LINE:
                    raise Failure(code, f"{what} {shown}: line {number} is longer than {MAX_LINE} bytes", file=shown)
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    raise Failure(code, f"{what} {shown}: line {number} is not JSON ({str(exc)[:80]})",
                                  file=shown) from None
                if not isinstance(row, dict):
                    raise Failure(code, f"{what} {shown}: line {number} is not an object", file=shown)
                rows.append(row)
    except FileNotFoundError:
        raise Failure(code, f"{what} {shown} does not exist", file=shown) from None
    except IsADirectoryError:
        raise Failure(code, f"{what} {shown} is a folder, not a JSON Lines file", file=shown) from None
    except OSError as exc:
        raise Failure(code, f"cannot read {what} {shown}: {exc.strerror or exc}", file=shown) from None
    return rows


def _case_id(row: dict[str, Any], number: int, shown: str, what: str, code: str) -> str:
    value = row.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise Failure(code, f"{what} {shown}: record {number} has no `id` (a string or an integer)", file=shown)
    return str(value)


def index_cases(rows: list[dict[str, Any]], shown: str, what: str, code: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i, row in enumerate(rows, start=1):
        key = _case_id(row, i, shown, what, code)
        if key in out:
            raise Failure(code, f"{what} {shown}: id {key!r} appears twice", file=shown)
        out[key] = row
    return out


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) and f >= 0 else None


# --------------------------------------------------------------------------- deterministic scorers


def score_exact(output: Any, expected: Any, ignore_case: bool = False) -> tuple[bool, str | None]:
    a, b = _text(output).strip(), _text(expected).strip()
    if ignore_case:
        a, b = a.casefold(), b.casefold()
    return a == b, None if a == b else f"expected {_short(_text(expected))}"


def score_contains(output: Any, expected: Any, ignore_case: bool = False) -> tuple[bool, str | None]:
    wanted = [_text(x) for x in expected] if isinstance(expected, list) else [_text(expected)]
    text = _text(output)
    if ignore_case:
        text, wanted = text.casefold(), [w.casefold() for w in wanted]
    missing = [w for w in wanted if w not in text]
    return not missing, None if not missing else f"missing {_short(missing[0])}"


def score_regex(output: Any, pattern: re.Pattern[str]) -> tuple[bool, str | None]:
    ok = pattern.search(_text(output)) is not None
    return ok, None if ok else f"does not match {_short(pattern.pattern)}"


def score_json_schema(output: Any, validator: Any) -> tuple[bool, str | None]:
    if isinstance(output, str):
        try:
            output = json.loads(output)
        except ValueError as exc:
            return False, f"not JSON ({str(exc)[:60]})"
    error = next(iter(validator.iter_errors(output)), None)
    if error is None:
        return True, None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return False, f"{where}: {error.message[:120]}"


def _short(text: str, n: int = 60) -> str:
    return repr(text if len(text) <= n else text[: n - 1] + "…")


# --------------------------------------------------------------------------- the judge


class JudgeGaveUp(Exception):
    def __init__(self, message: str, status: int | None) -> None:
        super().__init__(message)
        self.status = status


class JudgeReplyError(Exception):
    """The judge answered, but not with a verdict."""


Transport = Callable[[dict[str, Any], float], dict[str, Any]]


class JudgeClient:
    """One judge: builds requests, sends them with timeouts and retries, parses and caches verdicts.

    Thread-safe: cases are judged by a pool of ``max_concurrency`` threads. The cache is keyed
    by a hash of everything the verdict depends on (judge model, messages), so an unchanged case is
    never judged twice."""

    def __init__(self, judge: Judge, base: Path, *, use_cache: bool = True,
                 transport: Transport | None = None) -> None:
        self.judge = judge
        self.cache_dir = base / JUDGE_CACHE_DIR
        self.use_cache = use_cache
        self.calls = 0
        self._lock = threading.Lock()
        self.transport = transport or (self._http if judge.provider == "openai_compatible" else _local(judge, base))

    # -- transport

    def _http(self, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.judge.base_url is not None
        url = self.judge.base_url.rstrip("/") + "/chat/completions"
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "mlspec-eval"}
        if self.judge.api_key_secret:
            key = os.environ.get(self.judge.api_key_secret)
            if key:
                headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http(s) from the spec)
            raw = resp.read(MAX_LINE * 4)
        try:
            reply = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise JudgeReplyError("the response body is not JSON") from None
        if not isinstance(reply, dict):
            raise JudgeReplyError("the response body is not a JSON object")
        return reply

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        """The reply body; retries timeouts, connection errors, 429 and 5xx with exponential
        backoff (Retry-After honoured); raises JudgeGaveUp after the last try."""
        status: int | None = None
        reason = ""
        for attempt in range(self.judge.retries + 1):
            with self._lock:
                self.calls += 1
            wait = _backoff_base() * (2 ** attempt)
            try:
                return self.transport(body, float(self.judge.timeout_seconds))
            except urllib.error.HTTPError as exc:
                status, reason = exc.code, f"HTTP {exc.code}"
                if exc.code not in RETRY_STATUSES:
                    raise JudgeGaveUp(f"the judge refused the request ({reason})", status) from None
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                if retry_after is not None:
                    try:
                        wait = float(retry_after)
                    except ValueError:
                        pass
            except (TimeoutError, urllib.error.URLError, ConnectionError, OSError, http.client.HTTPException) as exc:
                inner = getattr(exc, "reason", exc)
                reason = "timed out" if isinstance(inner, TimeoutError) or "timed out" in str(inner) else (
                    f"unreachable ({str(inner)[:80]})")
            if attempt < self.judge.retries:
                time.sleep(min(max(wait, 0.0), BACKOFF_CAP))
        raise JudgeGaveUp(f"the judge gave up after {self.judge.retries + 1} attempts ({reason})", status)

    # -- verdicts

    def request(self, system: str, user: str) -> dict[str, Any]:
        return {"model": self.judge.model, "temperature": 0,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}

    def verdict(self, system: str, user: str) -> tuple[float, str, bool]:
        """(score 0–1, reason, from cache)."""
        body = self.request(system, user)
        key = hashlib.sha256(json.dumps([self.judge.provider, body], sort_keys=True).encode()).hexdigest()
        path = self.cache_dir / key[:2] / f"{key}.json"
        if self.use_cache:
            try:
                hit = json.loads(path.read_text(encoding="utf-8"))
                return float(hit["score"]), str(hit.get("reason", "")), True
            except (OSError, ValueError, KeyError, TypeError):
                pass
        reply = self.send(body)
        score, reason = parse_verdict(reply)
        # --no-cache skips reading, not writing: the fresh verdict refreshes the cache.
        try:
            write_atomic(path, json.dumps({"score": score, "reason": reason, "model": self.judge.model}) + "\n")
        except OSError:
            pass  # a cache that cannot be written only costs time
        return score, reason, False


def parse_verdict(reply: dict[str, Any]) -> tuple[float, str]:
    """The verdict in a chat-completions reply: the message content is JSON with ``score`` (0–1)
    or ``pass`` (true/false), and optionally ``reason``. Anything else is a JudgeReplyError."""
    try:
        content = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise JudgeReplyError("the reply has no choices[0].message.content") from None
    if not isinstance(content, str):
        raise JudgeReplyError("the reply's content is not text")
    text = content.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, re.S)
    if fenced:
        text = fenced.group(1)
    try:
        data = json.loads(text)
    except ValueError:
        raise JudgeReplyError(f"the verdict is not JSON: {_short(text, 40)}") from None
    if not isinstance(data, dict):
        raise JudgeReplyError("the verdict is not a JSON object")
    if isinstance(data.get("pass"), bool) and "score" not in data:
        return (1.0 if data["pass"] else 0.0), str(data.get("reason", ""))[:500]
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not (0 <= score <= 1):
        raise JudgeReplyError("the verdict has no `score` between 0 and 1")
    return float(score), str(data.get("reason", ""))[:500]


def _local(judge: Judge, base: Path) -> Transport:
    """The local judge: ``module:function`` from the spec's folder, called with the request body."""
    import importlib

    assert judge.entrypoint is not None
    module_name, func_name = judge.entrypoint.split(":")
    if str(base) not in sys.path:
        sys.path.insert(0, str(base))
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except Exception as exc:  # the project's own code: any import error is a diagnostic
        raise Failure(dx.EVAL_FILE, f"cannot import the local judge {judge.entrypoint}: "
                      f"{type(exc).__name__}: {str(exc)[:120]}", path=("llm", "judge", "entrypoint")) from None

    def call(body: dict[str, Any], timeout: float) -> dict[str, Any]:
        try:
            reply = func(body)
        except Exception as exc:
            raise JudgeReplyError(f"the local judge raised {type(exc).__name__}: {str(exc)[:80]}") from None
        if not isinstance(reply, dict):
            raise JudgeReplyError("the local judge did not return a reply object")
        return reply

    return call


JUDGE_INSTRUCTIONS = (
    "You are an evaluator. Follow the rubric. Reply with one JSON object and nothing else: "
    '{"score": <number from 0 to 1>, "reason": "<one sentence>"}.')


def judge_messages(scorer: str, rubric: str, case: dict[str, Any], output: Any) -> tuple[str, str]:
    system = f"{JUDGE_INSTRUCTIONS}\n\nRubric:\n{rubric.strip()}"
    parts = [f"Input:\n{_text(case.get('input', ''))}"]
    if scorer == "llm_judge" or "expected" in case:
        parts.append(f"Expected answer:\n{_text(case.get('expected', ''))}")
    parts.append(f"Output to evaluate:\n{_text(output)}")
    return system, "\n\n".join(parts)


# --------------------------------------------------------------------------- human review


def _verdict_value(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)) and 0 <= value <= 1:
        return float(value)
    if isinstance(value, str) and value.strip().lower() in ("pass", "fail", "yes", "no"):
        return 1.0 if value.strip().lower() in ("pass", "yes") else 0.0
    return None


def review(path: Path, shown: str, cases: dict[str, dict[str, Any]],
           outputs: dict[str, dict[str, Any]]) -> dict[str, tuple[float | None, str | None]]:
    """Verdicts by case id from the review file, which is (re)written with one line a case: a
    verdict is kept while the output it judged is unchanged, else reset to null."""
    old: dict[str, dict[str, Any]] = {}
    if path.exists():
        old = index_cases(read_jsonl(path, shown, "review file", dx.EVAL_FILE), shown, "review file", dx.EVAL_FILE)
    lines, verdicts = [], {}
    for cid, case in cases.items():
        out = outputs.get(cid, {}).get("output")
        prev = old.get(cid, {})
        verdict = prev.get("verdict") if prev.get("output") == out else None
        if verdict is not None and _verdict_value(verdict) is None:
            raise Failure(dx.EVAL_FILE, f"review file {shown}: case {cid!r} has verdict {verdict!r}; write true, "
                          "false, \"pass\", \"fail\" or a score from 0 to 1", file=shown)
        verdicts[cid] = (_verdict_value(verdict) if verdict is not None else None, prev.get("note"))
        lines.append(json.dumps({"id": case.get("id"), "input": case.get("input"), "expected": case.get("expected"),
                                 "output": out, "verdict": verdict, "note": prev.get("note")},
                                ensure_ascii=False, sort_keys=True))
    write_atomic(path, "\n".join(lines) + ("\n" if lines else ""))
    return verdicts


# --------------------------------------------------------------------------- budgets


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[k]


def budgets(plan: Plan, cases: list[CaseResult]) -> list[Budget]:
    llm = plan.llm
    assert llm is not None
    out = []
    tokens = [(c.input_tokens or 0) + (c.output_tokens or 0) for c in cases
              if c.input_tokens is not None or c.output_tokens is not None]
    if llm.max_tokens_per_request is not None and tokens:
        out.append(Budget("max_tokens_per_request", float(max(tokens)), float(llm.max_tokens_per_request)))
    latencies = [c.latency_ms for c in cases if c.latency_ms is not None]
    if llm.latency_p95_ms is not None and latencies:
        out.append(Budget("latency_p95_ms", percentile(latencies, 0.95), llm.latency_p95_ms))
    costs = [c.cost_usd for c in cases if c.cost_usd is not None]
    if llm.cost_per_1k_requests_usd is not None and costs:
        out.append(Budget("cost_per_1k_requests_usd", 1000 * sum(costs) / len(costs), llm.cost_per_1k_requests_usd))
    return out


# --------------------------------------------------------------------------- running an eval


@dataclass
class Env:
    """Where an eval runs: the spec's folder, how paths are shown, whether to run and cache."""

    base: Path
    shown: Callable[[Path], str]
    run: bool = True
    use_cache: bool = True
    transport: Transport | None = None   # tests and benchmarks may inject one


def run_eval_command(ev: LlmEval, env: Env, plan: Plan) -> None:
    """Run the eval's command in the spec's folder; its output goes to a log beside the results."""
    assert ev.command is not None
    log = env.base / EVALS_DIR / ev.name / "run.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    child = dict(os.environ)
    child.update(dict(plan.environment.env))
    child["MLSPEC_EVAL"] = ev.name
    child["PATH"] = str(Path(sys.executable).parent) + os.pathsep + child.get("PATH", "")
    with log.open("wb") as out:
        try:
            code = subprocess.run(["bash", "-c", ev.command], cwd=env.base, env=child, stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=ev.timeout_seconds).returncode
        except subprocess.TimeoutExpired:
            raise Failure(dx.EVAL_OUTPUTS, f"eval {ev.name}: the run command timed out after "
                          f"{ev.timeout_seconds}s (log: {env.shown(log)})", path=(*ev.spec_path, "run")) from None
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        raise Failure(dx.EVAL_OUTPUTS, f"eval {ev.name}: the run command exited with {code} (log: {env.shown(log)})"
                      + ("; last lines:\n  " + "\n  ".join(t[:200] for t in tail) if tail else ""),
                      path=(*ev.spec_path, "run"))


def evaluate(plan: Plan, ev: LlmEval, env: Env, warn: Callable[[str, str], None]) -> EvalResult:
    """Run (unless ``env.run`` is false), join, score. Bad input raises Failure; per-case problems
    are CaseResult errors; ``warn(code, message)`` reports what is worth a warning."""
    started = time.monotonic()
    if env.run and ev.command:
        run_eval_command(ev, env, plan)
    src = plan.source_named(ev.dataset)
    if src.scheme in ("http", "https"):
        # A remote golden set: downloaded like any https data (bounded, sha256 pin enforced).
        from mlspec.runtime.http_data import download

        dpath, dshown = download(src.uri, env.base, src.uri, src.version), src.uri
    else:
        dpath = env.base / src.uri
        dshown = env.shown(dpath)
    cases = index_cases(read_jsonl(dpath, dshown, "dataset", dx.EVAL_DATASET), dshown, "dataset", dx.EVAL_DATASET)
    opath = env.base / ev.outputs
    oshown = env.shown(opath)
    outputs = index_cases(read_jsonl(opath, oshown, "eval outputs", dx.EVAL_OUTPUTS), oshown, "eval outputs",
                          dx.EVAL_OUTPUTS)
    unknown = sorted(set(outputs) - set(cases))
    if unknown:
        raise Failure(dx.EVAL_OUTPUTS, f"eval outputs {oshown} name {len(unknown)} case(s) the dataset lacks "
                      f"(first: {unknown[0]!r})", file=oshown)
    for cid, row in outputs.items():
        if "output" not in row:
            raise Failure(dx.EVAL_OUTPUTS, f"eval outputs {oshown}: case {cid!r} has no `output`", file=oshown)

    result = EvalResult(ev.name, ev.scorer, min=ev.min, max=ev.max)
    results: dict[str, CaseResult] = {}
    todo: list[str] = []
    for cid, case in cases.items():
        row = outputs.get(cid)
        r = CaseResult(cid, False, expected=case.get("expected"))
        if row is None:
            r.error = "no output"
        else:
            r.output = row["output"]
            r.input_tokens = _int(row.get("input_tokens"))
            r.output_tokens = _int(row.get("output_tokens"))
            r.latency_ms = _number(row.get("latency_ms"))
            r.cost_usd = _number(row.get("cost_usd"))
            todo.append(cid)
        results[cid] = r
    missing = [cid for cid, r in results.items() if r.error == "no output"]
    if missing:
        warn(dx.EVAL_DATASET, f"eval {ev.name}: {len(missing)} case(s) have no output in {oshown} "
             f"(first: {missing[0]!r}); they count as failed")

    if ev.scorer in ("exact_match", "contains", "regex", "json_schema"):
        score_one = deterministic_scorer(ev, env)
        for cid in todo:
            r = results[cid]
            r.passed, r.detail = score_one(r.output, cases[cid].get("expected"))
            r.score = 1.0 if r.passed else 0.0
    elif ev.scorer in JUDGED:
        _judge_all(plan, ev, env, cases, results, todo, result)
    else:
        rpath = env.base / REVIEWS_DIR / f"{ev.name}.jsonl"
        verdicts = review(rpath, env.shown(rpath), cases, outputs)
        for cid in todo:
            value, note = verdicts[cid]
            r = results[cid]
            if value is None:
                result.pending += 1
            else:
                r.score, r.passed, r.detail = value, value >= PASS_MARK, note
    result.cases = list(results.values())
    result.budgets = budgets(plan, result.cases)
    result.seconds = time.monotonic() - started
    return result


def _int(value: Any) -> int | None:
    n = _number(value)
    return int(n) if n is not None else None


def deterministic_scorer(ev: LlmEval, env: Env) -> Callable[[Any, Any], tuple[bool, str | None]]:
    if ev.scorer == "exact_match":
        return lambda out, exp: score_exact(out, exp, ev.ignore_case)
    if ev.scorer == "contains":
        return lambda out, exp: score_contains(out, exp, ev.ignore_case)
    if ev.scorer == "regex":
        assert ev.pattern is not None
        pattern = re.compile(ev.pattern)
        return lambda out, exp: score_regex(out, pattern)
    assert ev.schema is not None
    import jsonschema

    spath = env.base / ev.schema
    try:
        schema = json.loads(spath.read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema)
        cls.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as exc:
        raise Failure(dx.EVAL_FILE, f"eval {ev.name}: cannot use the JSON Schema {env.shown(spath)}: "
                      f"{getattr(exc, 'message', None) or getattr(exc, 'strerror', None) or exc}"[:300],
                      path=(*ev.spec_path, "schema")) from None
    validator = cls(schema)
    return lambda out, exp: score_json_schema(out, validator)


def _judge_all(plan: Plan, ev: LlmEval, env: Env, cases: dict[str, dict[str, Any]], results: dict[str, CaseResult],
               todo: list[str], result: EvalResult) -> None:
    assert plan.llm is not None and plan.llm.judge is not None and ev.rubric is not None
    rpath = env.base / ev.rubric
    try:
        rubric = rpath.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Failure(dx.EVAL_FILE, f"eval {ev.name}: cannot read the rubric {env.shown(rpath)}: "
                      f"{getattr(exc, 'strerror', None) or exc}", path=(*ev.spec_path, "rubric")) from None
    client = JudgeClient(plan.llm.judge, env.base, use_cache=env.use_cache, transport=env.transport)
    stop = threading.Event()

    def one(cid: str) -> None:
        if stop.is_set():
            return
        r = results[cid]
        system, user = judge_messages(ev.scorer, rubric, cases[cid], r.output)
        try:
            r.score, r.detail, r.cached = client.verdict(system, user)
            r.passed = r.score >= PASS_MARK
        except JudgeReplyError as exc:
            r.error = f"judge reply unusable: {exc}"
        except JudgeGaveUp as exc:
            if not stop.is_set():
                stop.set()
                status = f"last HTTP status {exc.status}" if exc.status is not None else "no HTTP status"
                result.gave_up = f"{exc} ({status})"
            r.error = "not judged: the judge gave up"

    with ThreadPoolExecutor(max_workers=plan.llm.judge.max_concurrency, thread_name_prefix="mlspec-judge") as pool:
        list(pool.map(one, todo))
    for cid in todo:
        if stop.is_set() and results[cid].score is None and results[cid].error is None:
            results[cid].error = "not judged: the judge gave up"
    result.judge_calls = client.calls


def write_results(base: Path, result: EvalResult, extra: dict[str, Any]) -> tuple[Path, Path]:
    folder = base / EVALS_DIR / result.name
    lines = [json.dumps(_jsonable(asdict(c)), ensure_ascii=False, sort_keys=True) for c in result.cases]
    cases_path, summary_path = folder / "results.jsonl", folder / "summary.json"
    write_atomic(cases_path, "\n".join(lines) + ("\n" if lines else ""))
    write_atomic(summary_path, json_text(_jsonable({**result.summary(), **extra})))
    return cases_path, summary_path


def read_summaries(base: Path, plan: Plan) -> dict[str, Any]:
    """``{name: summary}`` of every eval that has one: gates read ``evals.NAME.FIELD`` from it."""
    out: dict[str, Any] = {}
    for ev in plan.llm.evals if plan.llm else ():
        try:
            data = json.loads((base / EVALS_DIR / ev.name / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out[ev.name] = data
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
