"""A serving app's usage log reaches the LLM budget rules: `mlspec llm-usage` turns the growing
log into counters and a latency histogram on a real Pushgateway; a real Prometheus with the
support assistant's GENERATED rules (``for`` removed) computes the per-request cost from their
rates and fires the cost alert when the app overspends, and not the latency one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers.prom import StackFactory, without_for

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "support-assistant"


def _usage(ctx_dir: Path, gateway: str, log: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSPEC_")}
    env.update(MLSPEC_PUSHGATEWAY=gateway, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "mlspec", "llm-usage", "--log", str(log), "--format", "json"],
                       cwd=ctx_dir, env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in r.stderr and r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


@pytest.mark.server
@pytest.mark.validator
def test_usage_log_drives_the_budget_alerts(prom_stack: StackFactory, tmp_path: Path) -> None:
    rules = EXAMPLE / "monitoring" / "prometheus" / "helpdesk.rules.yml"
    stack = prom_stack(rules=without_for(rules))
    log = tmp_path / "usage.jsonl"
    # 2 cents a request is 20 USD per 1000 requests: over the example's 1.0 budget. Latency
    # 300 ms is well under its 2000 ms p95 budget.
    request = json.dumps({"input_tokens": 300, "output_tokens": 40, "latency_ms": 300, "cost_usd": 0.02})

    def grow(n: int) -> dict:
        with log.open("a", encoding="utf-8") as fh:
            fh.write((request + "\n") * n)
        return _usage(EXAMPLE, stack.pushgateway_url, log)

    first = grow(10)
    assert first["requests"] == 10 and first["push"]["pushed"] is True

    def cost_per_1k() -> float | None:
        grow(10)   # the app keeps serving: the counters grow between scrapes
        return stack.value('project:mlspec_llm_cost_per_1k_requests_usd:rate1h{project="helpdesk"}')

    value = stack.wait_for(cost_per_1k, timeout=30, what="the cost-per-request recording rule")
    assert value == pytest.approx(20.0, rel=0.01)

    def firing() -> set[str]:
        grow(5)
        names = {a["labels"]["alertname"] for a in stack.alerts("firing")}
        return names if "MlspecLlmCostOverBudget" in names else set()

    names = stack.wait_for(firing, timeout=30, what="MlspecLlmCostOverBudget firing")
    assert "MlspecLlmLatencyOverBudget" not in names
    p95 = stack.value('project:mlspec_llm_latency_seconds:p95_rate5m{project="helpdesk"}')
    assert p95 is not None and p95 <= 0.5


def test_a_bad_usage_line_is_a_positioned_diagnostic(tmp_path: Path) -> None:
    log = tmp_path / "usage.jsonl"
    log.write_text('{"input_tokens": 3}\n{"input_tokens": -1}\n', encoding="utf-8")
    r = subprocess.run([sys.executable, "-m", "mlspec", "llm-usage", "--log", str(log), "--no-push",
                        "--format", "json"], cwd=EXAMPLE, capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 1 and "Traceback" not in r.stderr
    (d,) = json.loads(r.stdout)["diagnostics"]
    assert d["code"] == "MS605" and "usage.jsonl:2: input_tokens must be a non-negative number" in d["message"]
