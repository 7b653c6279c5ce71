"""The `grafana` target: a dashboard that shows the spec's metrics against its bounds, typed and inert.

Specs are compiled with the same ``check_project`` + ``emit_artifacts`` the CLI uses. The
real validators are tsc against ``@grafana/schema`` (VALIDATORS §7) and promtool, which
parses every query and, for hostile label values, evaluates the drift queries on series
carrying exactly those values.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from mlspec import metrics as M
from mlspec.api import check_project, emit_artifacts
from mlspec.output.encoders import promql_string, yaml_dump
from mlspec.targets.grafana import GrafanaTarget, dashboard_uid
from tests import validators as V

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlproject.yaml"))

validator = pytest.mark.validator

HOSTILE_COLUMNS = [
    'monthly "charges"',
    "back\\slash \\n \\x24 \\\" end\\",
    'x"} > 0 or vector(1) > 0 #',
    "brace { and } single",
    "$__range ${datasource} $datasource [[datasource]] [5m]",
    "emoji 😀 naïve ℵ",
    "<img src=x onerror=alert(1)> & 'co'",
    "  padded  ",
]


# --------------------------------------------------------------------------- helpers


def compile_spec(spec: Path, out: Path) -> tuple[Any, dict[str, Any], Path]:
    checked = check_project(spec, display_name=spec.name, out_dir=out, targets=("grafana",))
    assert checked.ok, [d.to_json() for d in checked.diagnostics if d.is_error]
    (artifact,) = emit_artifacts(checked.plan, checked.options_for(["grafana"]))
    assert artifact.comment is None and artifact.path.endswith(".dashboard.json")
    path = out / artifact.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(artifact.render(checked.plan.source), encoding="utf-8")
    return checked.plan, json.loads(path.read_text(encoding="utf-8")), path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return compile_spec(ROOT / "examples" / "reference" / "mlproject.yaml", tmp_path_factory.mktemp("reference"))


def hostile_spec() -> dict[str, Any]:
    return {
        "mlspec": 1,
        "project": {"name": "hostile"},
        "data": {"ref": {"uri": "data/ref.csv", "freshness": "1h",
                         "schema": {c: {"type": "float"} for c in HOSTILE_COLUMNS}},
                 "cur": {"uri": "data/cur.csv"}},
        "training": {"run": "python train.py", "outputs": {"model": "models/model.bin"}},
        "serving": {"mode": "online", "run": "python serve.py", "port": 8080,
                    "slo": {"latency_p95_ms": 250, "error_rate": 0.02}},
        "monitoring": {
            "reference": "data.ref", "current": "data.cur",
            "drift": [{"columns": HOSTILE_COLUMNS, "method": "psi", "threshold": 0.1},
                      {"columns": HOSTILE_COLUMNS[:3], "method": "psi", "threshold": 0.3, "severity": "critical"},
                      {"columns": HOSTILE_COLUMNS[2:5], "method": "ks", "threshold": 0.05}],
            "performance": {"metric": "f1", "min": 0.6, "max": 0.99},
            "checks": [{"name": "own", "description": HOSTILE_COLUMNS[4], "run": "python check.py",
                        "bounds": [{"metric": "share.v2-test", "max": 0.05, "description": HOSTILE_COLUMNS[6]}]}],
            "alerts": [{"channel": "slack", "to": "#ml"}],
        },
    }


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile")
    spec = out / "mlproject.yaml"
    spec.write_text(json.dumps(hostile_spec(), ensure_ascii=False, indent=2), encoding="utf-8")
    return compile_spec(spec, out)


def panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dash["panels"] if p["type"] != "row"]


def exprs(dash: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dash) for t in p.get("targets", [])]


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})|\\.|[^\\]", re.DOTALL)


def promql_literal(literal: str) -> str:
    """Decode a PromQL double-quoted literal of the forms the target writes (JSON escapes and ``\\xHH``)."""
    body = "".join(f"\\u00{m.group(1)}" if m.group(1) else m.group(0) for m in _ESCAPE.finditer(literal[1:-1]))
    return json.loads(f'"{body}"')


def matchers(expr: str, label: str) -> list[str]:
    return [promql_literal(m.group(1)) for m in re.finditer(label + r'(?:=|=~|!=)(' + _STRING.pattern + ')', expr)]


def grafana_tsc_literal_enums(paths: list[Path]) -> list[str]:
    """tsc against ``@grafana/schema``'s ``Dashboard`` with string enums read as their literal values.

    Dashboard JSON spells enum members as strings (``"absolute"``); TypeScript does not accept
    a string literal where a string *enum* is declared, so ``tests/validators.py``'s
    ``grafana_tsc`` rejects every threshold, value mapping and colour mode. This maps each
    enum to the union of its values (``ThresholdsMode`` → ``"absolute" | "percentage"``),
    keeping every other check: unknown keys, wrong types, missing required fields.
    """
    node = V.require_tool("node")
    tsc = V.GRAFANA_CHECK_DIR / "node_modules" / "typescript" / "bin" / "tsc"
    if not tsc.is_file() or not (V.GRAFANA_CHECK_DIR / "node_modules" / "@grafana" / "schema").is_dir():
        pytest.skip(f"tools/grafana-check/node_modules is not installed: {V.SETUP_HINT}")
    header = (
        "import type { Dashboard } from '@grafana/schema';\n"
        "type Lit<T> = T extends string ? `${T}` : T extends number | boolean | null | undefined ? T\n"
        "  : T extends ReadonlyArray<infer U> ? Array<Lit<U>> : T extends object ? { [K in keyof T]: Lit<T[K]> } : T;\n"
        "export const dashboard: Lit<Dashboard> = ")
    jobs = {}
    with tempfile.TemporaryDirectory(prefix=".check-", dir=V.GRAFANA_CHECK_DIR) as td:
        for n, path in enumerate(paths):
            name = f"check_{n}.ts"
            Path(td, name).write_text(header + path.read_text(encoding="utf-8").strip() + ";\n", encoding="utf-8")
            jobs[name] = path
        r = subprocess.run([node, str(tsc), "--noEmit", "--strict", "--skipLibCheck", "--moduleResolution", "bundler",
                            "--module", "esnext", "--target", "es2020", "--pretty", "false", *jobs],
                           cwd=td, capture_output=True, text=True, timeout=300, check=False)
    findings = [f"{jobs.get(line.split('(')[0], '?')}: {line}" for line in r.stdout.splitlines() if ": error TS" in line]
    if r.returncode != 0 and not findings:
        findings.append(f"tsc exit {r.returncode}: {r.stdout}{r.stderr}")
    return findings


def promql_parse_utf8(queries: list[str], where: Path) -> list[str]:
    """Every query parsed by promtool as a recording rule (Grafana macros become ``5m``).

    Like ``V.promql_parse`` but with the rule file written as UTF-8 YAML: that helper's
    ``json.dump`` escapes non-BMP characters as surrogate pairs, which promtool's YAML
    reader refuses ("invalid Unicode character escape code").
    """
    assert queries
    exe = V.require_tool("promtool", "Debian package prometheus")
    rules = where / "queries.rules.yml"
    rules.write_text(yaml_dump({"groups": [{"name": "queries", "rules": [
        {"record": f"query:{i}", "expr": V.promql_for_check(q)} for i, q in enumerate(queries)]}]}),
        encoding="utf-8")
    r = subprocess.run([exe, "check", "rules", "--lint=none", str(rules)], capture_output=True, text=True,
                       timeout=60, check=False)
    return [] if r.returncode == 0 else [f"{rules}: promtool: {r.stdout}{r.stderr}"]


def _string_enum_false_positive(finding: str) -> bool:
    return bool(re.search(r"TS2322\]: Type '\"[a-z-]+\"' is not assignable to type "
                          r"'(ThresholdsMode|MappingType|FieldColorModeId)'\.$", finding))


# --------------------------------------------------------------------------- meaning


def test_reference_dashboard(reference) -> None:
    _plan, dash, _ = reference
    assert dash["uid"] == "mlspec-churn" == dashboard_uid("churn")
    assert dash["schemaVersion"] == 39
    assert dash["description"].startswith("Generated by mlspec from ")
    assert "mlproject.yaml (sha256 " in dash["description"]
    assert dash["description"].endswith("do not edit: change the spec and compile again.")
    (var,) = dash["templating"]["list"]
    assert (var["name"], var["type"], var["query"]) == ("datasource", "datasource", "prometheus")
    ids = [p["id"] for p in dash["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    assert not [p for p in dash["panels"] if p["type"] == "text"]
    for p in panels(dash):
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert p["targets"]
        for t in p["targets"]:
            assert t["datasource"] == p["datasource"]
            assert 'project="churn"' in t["expr"], t["expr"]
    titles = [p["title"] for p in dash["panels"]]
    for title in ("Drift detected", "Live roc_auc vs bounds", "Data age", "Schema violations", "Gate values",
                  "Gates passed", "Pipeline run success", "Serving latency p95", "Serving error rate",
                  "LLM cost per 1000 requests", "LLM tokens per request", "LLM latency p95"):
        assert title in titles


def test_layout_is_a_grid_without_overlaps(reference, hostile) -> None:
    for _, dash, _ in (reference, hostile):
        cells = set()
        for p in dash["panels"]:
            g = p["gridPos"]
            assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0
            here = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & here, p["title"]
            cells |= here


def test_a_panel_per_drift_column_with_its_thresholds(reference) -> None:
    plan, dash, _ = reference
    by_column = {}
    for p in panels(dash):
        for t in p["targets"]:
            for column in matchers(t["expr"], "column"):
                by_column[column] = p
    for check in plan.monitoring.drift:
        p = by_column[check.column]
        assert check.column in p["title"] and check.method in p["title"]
        steps = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert check.threshold in [s["value"] for s in steps]
        metric = M.DRIFT_PVALUE.name if check.is_test else M.DRIFT_SCORE.name
        assert p["targets"][0]["expr"].startswith(metric + "{")
    contract = next(p for p in panels(dash) if "contract" in p["title"])
    assert [s["color"] for s in contract["fieldConfig"]["defaults"]["thresholds"]["steps"]] == ["orange", "green"]


def test_bounds_are_thresholds(reference) -> None:
    _plan, dash, _ = reference
    by_title = {p["title"]: p for p in panels(dash)}

    def steps(title: str) -> list[tuple[Any, str]]:
        return [(s["value"], s["color"]) for s in by_title[title]["fieldConfig"]["defaults"]["thresholds"]["steps"]]

    assert steps("Live roc_auc vs bounds") == [(None, "red"), (0.75, "green")]
    assert steps("Serving latency p95") == [(None, "green"), (0.2, "red")]
    assert steps("Serving error rate") == [(None, "green"), (0.01, "red")]
    assert steps("LLM cost per 1000 requests") == [(None, "green"), (2.0, "orange")]
    assert steps("LLM tokens per request") == [(None, "green"), (4000, "orange")]
    assert steps("LLM latency p95") == [(None, "green"), (1.5, "orange")]
    (age,) = by_title["Data age"]["fieldConfig"]["overrides"]
    assert age["matcher"] == {"id": "byName", "options": "customers"}
    assert age["properties"][0]["value"]["steps"][1] == {"color": "orange", "value": 86400}
    serving = by_title["Serving error rate"]["targets"][0]["expr"]
    assert serving == ('(sum(rate(http_requests_total{project="churn", status=~"5.."}[$__rate_interval]))'
                       ' or vector(0)) / sum(rate(http_requests_total{project="churn"}[$__rate_interval]))')


def test_only_known_metric_names(reference) -> None:
    plan, dash, _ = reference
    known = set(M.BY_NAME) | {m.name + "_bucket" for m in M.ALL if m.type == "histogram"}
    known |= {plan.serving.requests_total, plan.serving.latency_histogram + "_bucket"}
    for expr in exprs(dash):
        for name in re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr):
            assert name in known, (name, expr)


def test_hostile_strings_are_inert(hostile) -> None:
    _, dash, _ = hostile
    seen = set()
    for p in panels(dash):
        for text in (p["title"], p["description"]):
            assert not re.search(r"[<>\"$\[]", text), text
            assert "{{" not in text
        for t in p["targets"]:
            # No Grafana variable but the rate-interval macro: `$` in values is written \x24.
            assert "$" not in t["expr"].replace("$__rate_interval", ""), t["expr"]
            assert "[[" not in t["expr"], t["expr"]
            for column in matchers(t["expr"], "column"):
                assert column in HOSTILE_COLUMNS
                assert html.unescape(p["title"]) == f"Drift: {column} ({matchers(t['expr'], 'method')[0]})"
                seen.add(column)
    assert seen == set(HOSTILE_COLUMNS)


def test_uid_is_short_and_stable() -> None:
    long_name = "a" + "-b" * 19 + "c"
    assert len(long_name) == 40
    uid = dashboard_uid(long_name)
    assert len(uid) <= 40 and uid == dashboard_uid(long_name) and uid != dashboard_uid(long_name[:-1] + "d")


def test_deterministic(reference) -> None:
    plan, _dash, path = reference
    (again,) = GrafanaTarget().emit(plan)
    assert again.render(plan.source) == path.read_text(encoding="utf-8")


def test_minimal_spec_gets_a_pipeline_dashboard(tmp_path) -> None:
    spec = tmp_path / "mlproject.yaml"
    spec.write_text(json.dumps({"mlspec": 1, "project": {"name": "mini"},
                                "training": {"run": "python t.py", "outputs": {"model": "m.bin"}}}))
    _, dash, _ = compile_spec(spec, tmp_path)
    assert [p["title"] for p in dash["panels"]] == ["Pipeline", "Pipeline run success", "Time since last run"]


# --------------------------------------------------------------------------- validators


def _all_dashboards(tmp_path: Path, hostile) -> list[tuple[Path, dict[str, Any]]]:
    out = [(hostile[2], hostile[1])]
    for ex in EXAMPLES:
        _, dash, path = compile_spec(ROOT / "examples" / ex / "mlproject.yaml", tmp_path / ex)
        out.append((path, dash))
    return out


@validator
def test_dashboards_type_check(tmp_path, hostile) -> None:
    paths = [p for p, _ in _all_dashboards(tmp_path, hostile)]
    assert grafana_tsc_literal_enums(paths) == []
    # The shared wrapper agrees, apart from its string-enum false positives.
    assert [f for f in V.grafana_tsc(paths) if not _string_enum_false_positive(f)] == []


@validator
def test_every_query_parses(tmp_path, hostile) -> None:
    for path, dash in _all_dashboards(tmp_path, hostile):
        assert V.dashboard_exprs(path) == exprs(dash)
        assert promql_parse_utf8(exprs(dash), tmp_path) == []
        if path != hostile[2]:  # V.promql_parse cannot write non-BMP characters (see promql_parse_utf8)
            assert V.promql_parse(exprs(dash)) == []


@validator
def test_hostile_drift_queries_select_exactly_their_series(hostile, tmp_path) -> None:
    """promtool evaluates each drift panel's query (``\\x24`` and all) on series with the raw label values."""
    plan, dash, _ = hostile
    names = list(dict.fromkeys(
        f'{M.DRIFT_PVALUE.name if c.is_test else M.DRIFT_SCORE.name}{{project="hostile", '
        f'column={promql_string(c.column)}, method={promql_string(c.method)}}}' for c in plan.monitoring.drift))
    # A distinct value per series, so a query that matched another column would be caught.
    series = [{"series": name, "values": f"{n}+0x10"} for n, name in enumerate(names)]
    checks = []
    for p in panels(dash):
        for t in p["targets"]:
            if matchers(t["expr"], "column"):
                column, method = matchers(t["expr"], "column")[0], matchers(t["expr"], "method")[0]
                (entry,) = [s for s in series if f"column={promql_string(column)}," in s["series"]
                            and f"method={promql_string(method)}}}" in s["series"]]
                checks.append({"expr": t["expr"], "eval_time": "5m",
                               "exp_samples": [{"labels": entry["series"], "value": float(entry["values"].split("+")[0])}]})
    assert len(checks) == len(series)
    (tmp_path / "empty.rules.yml").write_text("groups: []\n", encoding="utf-8")
    test = tmp_path / "queries.test.yml"
    test.write_text(yaml_dump({"rule_files": ["empty.rules.yml"], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": series, "promql_expr_test": checks}]}), encoding="utf-8")
    assert V.promtool_test_rules([test]) == []
    # And the test itself can fail: a query whose value is off by one is reported.
    checks[0]["exp_samples"][0]["value"] += 1
    test.write_text(yaml_dump({"rule_files": ["empty.rules.yml"], "evaluation_interval": "1m", "tests": [
        {"interval": "1m", "input_series": series, "promql_expr_test": checks}]}), encoding="utf-8")
    assert V.promtool_test_rules([test]) != []

