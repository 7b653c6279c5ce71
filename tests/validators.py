"""Wrappers around the real third-party validators that check mlspec's generated artifacts.

Use: ``from tests import validators as V`` then ``assert V.actionlint(paths) == []`` in a test
marked ``@pytest.mark.validator``.

Every validator function returns a list of findings, one human-readable string each, in the
form ``path[:line[:col]]: tool[rule]: message``; an empty list means clean. A test asserts
``findings == []`` so a failure prints every finding.

When a tool is not installed, the function calls ``pytest.skip(...)``; ``tests/conftest.py``
turns a skipped ``validator``-marked test into a failure in CI. Install everything with
``bash tools/setup.sh``. Passing no input at all raises ``ValueError`` (an empty list usually
means the test collected the wrong files, and "nothing checked" must not look like "clean").

Shared options live here so every test validates the same way:
zizmor runs ``--offline --persona=auditor``, hadolint ``--failure-threshold info``, promtool
``--lint=all --lint-fatal``, yamllint the relaxed config below, Kubernetes manifests in
strict mode (unknown fields are errors).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
AIRFLOW_VENV = Path(os.environ.get("MLSPEC_AIRFLOW_VENV") or REPO / ".venv-airflow")
AIRFLOW_DB_TEMPLATE = AIRFLOW_VENV / "mlspec-db-template" / "airflow.db"
K8S_CRD_CHECK_DIR = REPO / "tools" / "k8s-crd-check"
GRAFANA_CHECK_DIR = REPO / "tools" / "grafana-check"
SETUP_HINT = "run `bash tools/setup.sh`"

YAMLLINT_CONFIG = (
    "{extends: default, rules: {line-length: {max: 160}, document-start: disable,"
    " truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}"
)
ZIZMOR_PERSONA = "auditor"
HADOLINT_THRESHOLD = "info"
KUBERNETES_VERSION = "1.37"

PathLike = str | os.PathLike


# ------------------------------------------------------------------ helpers
def find_tool(name: str) -> str | None:
    """The bin dir of the running Python (its venv) first, then PATH, then /usr/bin."""
    candidates = [Path(sys.executable).parent / name]
    on_path = shutil.which(name)
    if on_path:
        candidates.append(Path(on_path))
    candidates += [Path("/usr/bin") / name, Path("/usr/local/bin") / name]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return str(c)
    return None


def require_tool(name: str, what: str = "") -> str:
    path = find_tool(name)
    if path is None:
        pytest.skip(f"validator tool {name!r}{' (' + what + ')' if what else ''} is not installed: {SETUP_HINT}")
    return path


def _paths(paths: PathLike | Iterable[PathLike]) -> list[str]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out = [os.path.abspath(p) for p in paths]
    if not out:
        raise ValueError("nothing to validate: no paths given")
    for p in out:
        if not os.path.exists(p):
            raise FileNotFoundError(p)
    return out


def _run(cmd: list[str], timeout: float = 300, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def _squash(text: str, limit: int = 2000) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return " | ".join(lines)[:limit] or "(no output)"


def _unexpected(tool: str, where: str, r: subprocess.CompletedProcess[str]) -> str:
    return f"{where}: {tool}[error]: exit {r.returncode}: {_squash(r.stdout + r.stderr)}"


# ------------------------------------------------------------------ GitHub Actions
_ACTIONLINT_LINE = re.compile(r"^(?P<path>.+?):(?P<pos>\d+:\d+): (?P<msg>.*?)(?: \[(?P<kind>[\w-]+)\])?$")


def actionlint(paths: PathLike | Iterable[PathLike]) -> list[str]:
    """actionlint (kjanat fork), with shellcheck on ``run:`` and pyflakes on ``shell: python``."""
    files = _paths(paths)
    exe = require_tool("actionlint")
    shellcheck = require_tool("shellcheck", "used by actionlint for run: steps")
    pyflakes_exe = require_tool("pyflakes", "used by actionlint for python steps")
    r = _run([exe, "-no-color", "-oneline", f"-shellcheck={shellcheck}", f"-pyflakes={pyflakes_exe}", *files])
    findings = []
    for line in r.stdout.splitlines():
        m = _ACTIONLINT_LINE.match(line)
        if m:
            # actionlint prints paths relative to its working directory: make them absolute again
            findings.append(f"{os.path.abspath(m['path'])}:{m['pos']}: actionlint[{m['kind'] or '?'}]: {m['msg']}")
    if r.returncode not in (0, 1) or (r.returncode == 1 and not findings):
        findings.append(_unexpected("actionlint", ",".join(files), r))
    return findings


def zizmor(paths: PathLike | Iterable[PathLike], persona: str = ZIZMOR_PERSONA) -> list[str]:
    """zizmor security audits, offline. Exit 3 (nothing auditable, e.g. schema-invalid) is a finding."""
    files = _paths(paths)
    exe = require_tool("zizmor")
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    findings = []
    for f in files:
        r = _run(
            [exe, "--offline", "--no-progress", "--no-config", "--color=never", f"--persona={persona}", "--format=json", f],
            env=env,
        )
        try:
            results = json.loads(r.stdout) if r.stdout.strip() else None
        except json.JSONDecodeError:
            results = None
        if results is None or r.returncode not in (0, 10, 11, 12, 13, 14):
            hint = " (no audit performed: is the workflow schema-invalid?)" if r.returncode == 3 else ""
            findings.append(_unexpected("zizmor", f, r) + hint)
            continue
        for res in results:
            if res.get("ignored"):
                continue
            loc = res["locations"][0]
            start = loc["concrete"]["location"]["start_point"]
            sev = res["determinations"]["severity"].lower()
            ann = loc["symbolic"].get("annotation", "")
            findings.append(f"{f}:{start['row'] + 1}:{start['column'] + 1}: zizmor[{res['ident']}]: {sev}: {res['desc']}: {ann}")
        if r.returncode != 0 and not findings:
            findings.append(_unexpected("zizmor", f, r))
    return findings


def check_jsonschema(paths: PathLike | Iterable[PathLike], builtin_schema: str) -> list[str]:
    """check-jsonschema against one of its vendored builtin schemas (offline)."""
    files = _paths(paths)
    exe = require_tool("check-jsonschema")
    r = _run([exe, "-o", "json", "--builtin-schema", builtin_schema, *files])
    try:
        report = json.loads(r.stdout)
    except json.JSONDecodeError:
        return [_unexpected(f"check-jsonschema:{builtin_schema}", ",".join(files), r)]
    findings = []
    for e in report.get("parse_errors", []):
        findings.append(f"{e.get('filename', '?')}: check-jsonschema[{builtin_schema}]: parse error: {e.get('message', e)}")
    for e in report.get("errors", []):
        best = e.get("best_deep_match") or e.get("best_match") or e
        findings.append(f"{e.get('filename', '?')}: check-jsonschema[{builtin_schema}]: {best.get('path', '$')}: {best.get('message')}")
    if r.returncode != 0 and not findings:
        findings.append(_unexpected(f"check-jsonschema:{builtin_schema}", ",".join(files), r))
    return findings


def check_jsonschema_workflows(paths: PathLike | Iterable[PathLike]) -> list[str]:
    """The GitHub workflow schema, plus "every job sets timeout-minutes"."""
    files = _paths(paths)
    return check_jsonschema(files, "vendor.github-workflows") + check_jsonschema(
        files, "custom.github-workflows-require-timeout"
    )


# ------------------------------------------------------------------ Dockerfiles, YAML, Python, shell
def hadolint(paths: PathLike | Iterable[PathLike], threshold: str = HADOLINT_THRESHOLD) -> list[str]:
    files = _paths(paths)
    exe = require_tool("hadolint")
    r = _run([exe, "--no-color", "--format", "json", "--failure-threshold", threshold, *files], cwd=tempfile.gettempdir())
    try:
        results = json.loads(r.stdout) if r.stdout.strip() else []
    except json.JSONDecodeError:
        return [_unexpected("hadolint", ",".join(files), r)]
    findings = [
        f"{x['file']}:{x['line']}:{x.get('column', 0)}: hadolint[{x['code']}]: {x['level']}: {x['message']}" for x in results
    ]
    if r.returncode != 0 and not findings:
        findings.append(_unexpected("hadolint", ",".join(files), r))
    return findings


_YAMLLINT_LINE = re.compile(r"^(?P<loc>.+?:\d+:\d+): \[(?P<level>\w+)\] (?P<msg>.*?)(?: \((?P<rule>[\w-]+)\))?$")


def yamllint(paths: PathLike | Iterable[PathLike], config: str = YAMLLINT_CONFIG) -> list[str]:
    """yamllint with the relaxed config; warnings count as findings too."""
    files = _paths(paths)
    exe = require_tool("yamllint")
    r = _run([exe, "-f", "parsable", "-d", config, *files])
    findings = []
    for line in r.stdout.splitlines():
        m = _YAMLLINT_LINE.match(line)
        if m:
            findings.append(f"{m['loc']}: yamllint[{m['rule'] or 'syntax'}]: {m['level']}: {m['msg']}")
    if r.returncode != 0 and not findings:
        findings.append(_unexpected("yamllint", ",".join(files), r))
    return findings


def pyflakes(paths: PathLike | Iterable[PathLike]) -> list[str]:
    files = _paths(paths)
    exe = require_tool("pyflakes")
    r = _run([exe, *files])
    findings = []
    for ln in (r.stdout + r.stderr).splitlines():
        m = re.match(r"^(?P<loc>.+?:\d+(?::\d+)?):? (?P<msg>.*)$", ln)
        if m and ln.startswith(tuple(files)):
            findings.append(f"{m['loc']}: pyflakes: {m['msg']}")
    if r.returncode != 0 and not findings:
        findings.append(_unexpected("pyflakes", ",".join(files), r))
    return findings


def shellcheck(paths: PathLike | Iterable[PathLike]) -> list[str]:
    files = _paths(paths)
    exe = require_tool("shellcheck")
    r = _run([exe, "-f", "gcc", *files])
    findings = []
    for ln in r.stdout.splitlines():
        m = re.match(r"^(?P<loc>.+?:\d+:\d+): (?P<level>\w+): (?P<msg>.*?)(?: \[(?P<code>SC\d+)\])?$", ln)
        if m:
            findings.append(f"{m['loc']}: shellcheck[{m['code'] or '?'}]: {m['level']}: {m['msg']}")
        elif ln.strip():
            findings.append(f"{files[0] if len(files) == 1 else '?'}: shellcheck: {ln.strip()}")
    if r.returncode != 0 and not findings:
        findings.append(_unexpected("shellcheck", ",".join(files), r))
    return findings


def graphviz_dot(paths: PathLike | Iterable[PathLike]) -> list[str]:
    """Graphviz parses each DOT file and lays it out; errors and warnings are findings."""
    exe = require_tool("dot", "Debian package graphviz")
    findings = []
    for f in _paths(paths):
        r = _run([exe, "-Tsvg", "-o", os.devnull, f])
        findings += [f"{f}: dot: {ln.strip()}" for ln in r.stderr.splitlines() if ln.strip()]
        if r.returncode != 0 and not r.stderr.strip():
            findings.append(_unexpected("dot", f, r))
    return findings


# ------------------------------------------------------------------ Prometheus / Alertmanager
def _promtool() -> str:
    return require_tool("promtool", "Debian package prometheus")


def _promtool_messages(text: str) -> list[str]:
    skip = ("Checking ", "SUCCESS", "Unit Testing:")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith(skip) and ln.strip() != "FAILED:"]


def promtool_check_rules(paths: PathLike | Iterable[PathLike]) -> list[str]:
    """``promtool check rules --lint=all --lint-fatal``; promtool stops at a file's first error."""
    exe = _promtool()
    findings = []
    for f in _paths(paths):
        r = _run([exe, "check", "rules", "--lint=all", "--lint-fatal", f])
        if r.returncode != 0:
            msgs = " | ".join(m.replace(f + ": ", "") for m in _promtool_messages(r.stdout + r.stderr))
            findings.append(f"{f}: promtool-check-rules: {msgs}" if msgs else _unexpected("promtool-check-rules", f, r))
    return findings


def promtool_test_rules(paths: PathLike | Iterable[PathLike]) -> list[str]:
    """``promtool test rules``; ``rule_files`` resolve relative to each test file."""
    exe = _promtool()
    findings = []
    for f in _paths(paths):
        r = _run([exe, "test", "rules", os.path.basename(f)], cwd=os.path.dirname(f))
        if r.returncode != 0:
            findings.append(f"{f}: promtool-test-rules: {_squash(r.stdout + r.stderr, 4000)}")
    return findings


_GRAFANA_MACROS = re.compile(r"\$\{?__(?:rate_interval|interval|range|interval_ms|range_s|range_ms)\}?")


def promql_for_check(expr: str) -> str:
    """Make a Grafana target parseable: macros become ``5m``, template variables ``x``."""
    expr = _GRAFANA_MACROS.sub("5m", expr)
    expr = re.sub(r"\[\s*\$\{?\w+(?::\w+)?\}?\s*\]", "[5m]", expr)  # [$interval]
    return re.sub(r"\$\{\w+(?::\w+)?\}|\$\w+|\[\[\w+\]\]", "x", expr)  # other variables


def promql_parse(exprs: Iterable[str]) -> list[str]:
    """Parse each PromQL expression with promtool (as a one-rule file)."""
    exprs = list(exprs)
    if not exprs:
        raise ValueError("nothing to validate: no PromQL expressions given")
    exe = _promtool()
    findings = []
    with tempfile.TemporaryDirectory(prefix="mlspec-promql-") as td:
        rule_file = os.path.join(td, "expr.rules.json")
        for i, expr in enumerate(exprs):
            doc = {"groups": [{"name": "promql_parse", "rules": [{"record": "mlspec:promql_parse", "expr": promql_for_check(expr)}]}]}
            with open(rule_file, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, ensure_ascii=False)
            r = _run([exe, "check", "rules", "--lint=none", rule_file])
            if r.returncode != 0:
                msg = _squash(r.stdout + r.stderr).replace(rule_file, "expr")
                msg = msg.split("could not parse expression:")[-1].strip()
                findings.append(f"expr[{i}] {expr!r}: promtool-promql: {msg}")
    return findings


def amtool_check_config(path: PathLike) -> list[str]:
    f = _paths(path)[0]
    exe = require_tool("amtool", "Debian package prometheus-alertmanager")
    r = _run([exe, "check-config", f])
    return [] if r.returncode == 0 else [f"{f}: amtool-check-config: {_squash(r.stdout + r.stderr)}"]


@contextlib.contextmanager
def pushgateway() -> Iterator[str]:
    """A real Prometheus Pushgateway on loopback, no persistence; yields its base URL.

    The same server as the ``pushgateway`` fixture (``tests/servers/prom.py``), for one ``with`` block.
    """
    from tests.servers.prom import start_pushgateway

    require_tool("prometheus-pushgateway", "Debian package prometheus-pushgateway")
    with tempfile.TemporaryDirectory(prefix="mlspec-pushgateway-") as directory:
        gateway = start_pushgateway(Path(directory))
        try:
            yield gateway.url
        finally:
            gateway.process.stop()


# ------------------------------------------------------------------ Grafana
def _dashboard(doc: dict) -> dict:
    """A dashboard file is either the dashboard itself or Grafana's API form {"dashboard": {...}}."""
    return doc["dashboard"] if isinstance(doc.get("dashboard"), dict) else doc


def dashboard_exprs(path: PathLike) -> list[str]:
    """Every Prometheus ``expr`` of a dashboard's panels (rows included), for ``promql_parse``."""
    dash = _dashboard(json.loads(Path(path).read_text(encoding="utf-8")))
    exprs = []
    for panel in dash.get("panels") or []:
        for p in [panel, *(panel.get("panels") or [])]:
            for t in p.get("targets") or []:
                ds = t.get("datasource") or p.get("datasource") or {}
                if isinstance(ds, dict) and ds.get("type") not in (None, "prometheus"):
                    continue
                if isinstance(t.get("expr"), str) and t["expr"].strip():
                    exprs.append(t["expr"])
    return exprs


_TSC_LINE = re.compile(r"^(?P<file>check_\d+\.ts)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): (?P<msg>.*)$")


def grafana_tsc(json_paths: PathLike | Iterable[PathLike]) -> list[str]:
    """Type-check dashboards against Grafana's ``@grafana/schema`` ``Dashboard`` type with tsc.

    Each JSON becomes ``export const dashboard: Dashboard = <json>;`` so excess-property checks
    apply (tsc reports at most one unknown key per object literal).
    """
    files = _paths(json_paths)
    node = require_tool("node")
    tsc = GRAFANA_CHECK_DIR / "node_modules" / "typescript" / "bin" / "tsc"
    if not tsc.is_file() or not (GRAFANA_CHECK_DIR / "node_modules" / "@grafana" / "schema").is_dir():
        pytest.skip(f"tools/grafana-check/node_modules is not installed: {SETUP_HINT}")
    findings: list[str] = []
    jobs: dict[str, tuple[str, bool]] = {}
    # Inside tools/grafana-check so that module resolution finds node_modules.
    with tempfile.TemporaryDirectory(prefix=".check-", dir=GRAFANA_CHECK_DIR) as td:
        for n, f in enumerate(files):
            text = Path(f).read_text(encoding="utf-8")
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as e:
                findings.append(f"{f}:{e.lineno}:{e.colno}: json: {e.msg}")
                continue
            if not isinstance(doc, dict):
                findings.append(f"{f}: grafana-schema: top level is not an object")
                continue
            wrapped = isinstance(doc.get("dashboard"), dict)
            body = json.dumps(doc["dashboard"], indent=2) if wrapped else text.strip()
            name = f"check_{n}.ts"
            Path(td, name).write_text(
                "import type { Dashboard } from '@grafana/schema';\nexport const dashboard: Dashboard = " + body + ";\n",
                encoding="utf-8",
            )
            jobs[name] = (f, wrapped)
        if not jobs:
            return findings
        r = _run(
            [node, str(tsc), "--noEmit", "--strict", "--skipLibCheck", "--moduleResolution", "bundler", "--module", "esnext",
             "--target", "es2020", "--pretty", "false", *jobs],
            cwd=td,
        )
    for line in r.stdout.splitlines():
        m = _TSC_LINE.match(line)
        if m and m["file"] in jobs:
            src, wrapped = jobs[m["file"]]
            where = f"{src}:0" if wrapped else f"{src}:{int(m['line']) - 1}:{m['col']}"
            note = " [inside the 'dashboard' object]" if wrapped else ""
            findings.append(f"{where}: grafana-schema(tsc)[{m['code']}]: {m['msg']}{note}")
        elif line.startswith((" ", "\t")) and findings:
            findings[-1] += " " + line.strip()  # continuation of the previous message
        elif line.strip():
            findings.append(f"?: grafana-schema(tsc): {line.strip()}")
    if r.returncode != 0 and not findings:
        findings.append(_unexpected("tsc", ",".join(files), r))
    return findings


# ------------------------------------------------------------------ Kubernetes
def prometheus_operator_validate(paths: PathLike | Iterable[PathLike]) -> list[str]:
    """ServiceMonitor/PodMonitor objects against the schemas generated from prometheus-operator's
    own CRDs (``@kubernetes-models/prometheus-operator``, locked in tools/k8s-crd-check)."""
    import json

    import yaml

    node = require_tool("node")
    script = K8S_CRD_CHECK_DIR / "check.mjs"
    if not (K8S_CRD_CHECK_DIR / "node_modules" / "@kubernetes-models" / "prometheus-operator").is_dir():
        pytest.skip(f"tools/k8s-crd-check/node_modules is not installed: {SETUP_HINT}")
    findings = []
    for f in _paths(paths):
        docs = [d for d in yaml.safe_load_all(Path(f).read_text(encoding="utf-8")) if d is not None]
        with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as tmp:
            json.dump(docs, tmp)
        try:
            r = _run([node, str(script), tmp.name], cwd=str(K8S_CRD_CHECK_DIR))
        finally:
            os.unlink(tmp.name)
        findings += [f"{f}: prometheus-operator CRD schema: {line}" for line in r.stdout.splitlines() if line]
        if r.returncode != 0 and not r.stdout.strip():
            findings.append(_unexpected("k8s-crd-check", f, r))
    return findings


def kubernetes_validate(
    paths: PathLike | Iterable[PathLike],
    version: str = KUBERNETES_VERSION,
    strict: bool = True,
    allow_unknown_kinds: Iterable[str] = (),
) -> list[str]:
    """Kubernetes manifests against kubernetes-validate's bundled schemas, ALL errors per document.

    (Its CLI shows only the first error and only warns on unknown kinds.) A kind with no bundled
    schema (a CRD) is a finding unless listed in ``allow_unknown_kinds``.
    """
    files = _paths(paths)
    try:
        import jsonschema
        import yaml
        from kubernetes_validate import utils as kv
        from referencing import Registry, Resource
    except ImportError as e:
        pytest.skip(f"kubernetes-validate is not installed ({e}); it belongs in pyproject's `validators` extra: {SETUP_HINT}")

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", v)[:2])

    versions = [v for v in kv.all_versions() if key(v) <= key(version)]
    if not versions:
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {version}")
    schema_dir = f"kubernetes-json-schema/v{versions[-1]}-local" + ("-strict" if strict else "")
    definitions = kv.schema_contents(f"{schema_dir}/_definitions.json", version)
    allowed = set(allow_unknown_kinds)
    findings = []
    for f in files:
        try:
            docs = [d for d in yaml.safe_load_all(Path(f).read_text(encoding="utf-8")) if d is not None]
        except yaml.YAMLError as e:
            findings.append(f"{f}: yaml: {e}".replace("\n", " "))
            continue
        for i, doc in enumerate(docs, 1):
            if not (isinstance(doc, dict) and isinstance(doc.get("apiVersion"), str) and isinstance(doc.get("kind"), str)):
                findings.append(f"{f}: doc {i}: kubernetes-validate: not a Kubernetes object (apiVersion and kind)")
                continue
            meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
            where = f"{f}: doc {i} {doc['kind']}/{meta.get('name', '?')}"
            api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
            try:
                schema = kv.schema_contents(f"{schema_dir}/{doc['kind'].lower()}-{api}.json", version)
            except FileNotFoundError:
                if doc["kind"] not in allowed:
                    findings.append(f"{where}: kubernetes-validate: no schema for {doc['apiVersion']} {doc['kind']}")
                continue
            registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
            validator = jsonschema.Draft202012Validator(schema, registry=registry)
            for e in sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path]):
                leaf = max(e.context, key=lambda c: len(c.absolute_path)) if e.context else e
                path = ".".join(map(str, leaf.absolute_path)) or "(root)"
                findings.append(f"{where}: kubernetes-validate[{versions[-1]}{',strict' if strict else ''}]: {path}: {leaf.message}")
    return findings


# ------------------------------------------------------------------ Airflow 3 (separate venv)
_AIRFLOW_DAGBAG = r"""
import json, sys, warnings
from airflow.dag_processing.dagbag import DagBag
dag_dir, out = sys.argv[1], sys.argv[2]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    bag = DagBag(dag_folder=dag_dir, safe_mode=False)
found = []
for path, err in sorted(bag.import_errors.items()):
    lines = [l for l in str(err).strip().splitlines() if l.strip()]
    found.append(f"{path}: airflow-dagbag: import error: {lines[-1] if lines else err}")
seen = set()
for path, msgs in sorted(getattr(bag, "captured_warnings", {}).items()):
    for m in msgs:
        seen.add(str(m).split(": ", 1)[-1].split(": ", 1)[-1])
        found.append(f"{path}: airflow-dagbag: warning: {m}")
for w in caught:
    if str(w.message) not in seen:
        seen.add(str(w.message))
        found.append(f"{w.filename}:{w.lineno}: airflow-dagbag: warning: {w.category.__name__}: {w.message}")
json.dump({"dag_ids": sorted(bag.dag_ids), "findings": found}, open(out, "w"))
"""

_AIRFLOW_DAG_TEST = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
dag_dir, dag_id, out = sys.argv[1], sys.argv[2], sys.argv[3]
res = {"state": None, "tasks": {}, "findings": []}
bag = DagBag(dag_folder=dag_dir, safe_mode=False)
for path, err in sorted(bag.import_errors.items()):
    lines = [l for l in str(err).strip().splitlines() if l.strip()]
    res["findings"].append(f"{path}: airflow-dagbag: import error: {lines[-1] if lines else err}")
dag = bag.dags.get(dag_id)
if dag is None:
    res["findings"].append(f"{dag_dir}: airflow-dag.test[{dag_id}]: no such DAG (found {sorted(bag.dag_ids)})")
else:
    try:
        dr = dag.test()
        res["state"] = str(getattr(dr.state, "value", dr.state))
        for ti in dr.get_task_instances():
            res["tasks"][ti.task_id] = None if ti.state is None else str(getattr(ti.state, "value", ti.state))
    except Exception as e:
        res["findings"].append(f"{dag.fileloc}: airflow-dag.test[{dag_id}]: crashed: {type(e).__name__}: {e}")
    if res["state"] is not None and res["state"] != "success":
        bad = ", ".join(f"{t}={s}" for t, s in sorted(res["tasks"].items()) if s != "success")
        res["findings"].append(f"{dag.fileloc}: airflow-dag.test[{dag_id}]: run {res['state']}; tasks not successful: {bad}")
json.dump(res, open(out, "w"))
"""


def _airflow_python() -> str:
    py = AIRFLOW_VENV / "bin" / "python"
    if not py.is_file():
        pytest.skip(f"the Airflow 3 venv {AIRFLOW_VENV} is not installed: {SETUP_HINT}")
    return str(py)


def _airflow_env(home: str, dag_dir: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith("AIRFLOW") and k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
    }
    env.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__DAGS_FOLDER=dag_dir,
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        PYTHONDONTWRITEBYTECODE="1",  # keep __pycache__ out of the DAG folders
    )
    env.update(extra or {})
    return env


def _run_airflow(script: str, args: list[str], home: str, dag_dir: str, env: Mapping[str, str] | None, timeout: float) -> dict:
    out = os.path.join(home, "mlspec-result.json")
    r = _run([_airflow_python(), "-c", script, *args, out], timeout=timeout, cwd=home, env=_airflow_env(home, dag_dir, env))
    if r.returncode != 0 or not os.path.exists(out):
        raise AssertionError(f"the Airflow helper crashed (exit {r.returncode}): {(r.stdout + r.stderr)[-3000:]}")
    with open(out, encoding="utf-8") as fh:
        return json.load(fh)


def airflow_dagbag(dag_dir: PathLike, timeout: float = 300) -> tuple[list[str], list[str]]:
    """Import every DAG file in ``dag_dir`` with Airflow 3's DagBag (no DB needed).

    Returns ``(dag_ids, findings)``; import errors and any warning raised while importing a
    DAG file (deprecated import paths, ...) are findings.
    """
    d = os.path.abspath(_paths(dag_dir)[0])
    with tempfile.TemporaryDirectory(prefix="mlspec-airflow-home-") as home:
        res = _run_airflow(_AIRFLOW_DAGBAG, [d], home, d, None, timeout)
    return res["dag_ids"], res["findings"]


def airflow_dag_test(
    dag_dir: PathLike, dag_id: str, env: Mapping[str, str] | None = None, timeout: float = 600
) -> tuple[str | None, dict[str, str | None], list[str]]:
    """Run one DAG once with ``dag.test()`` on a copy of the migrated SQLite template DB.

    Returns ``(state, {task_id: state}, findings)``; a run or task that did not succeed is a
    finding. ``env`` adds environment variables for the run (the tasks see them).
    """
    d = os.path.abspath(_paths(dag_dir)[0])
    _airflow_python()
    if not AIRFLOW_DB_TEMPLATE.is_file():
        pytest.skip(f"the Airflow template DB {AIRFLOW_DB_TEMPLATE} is missing: {SETUP_HINT}")
    with tempfile.TemporaryDirectory(prefix="mlspec-airflow-home-") as home:
        shutil.copy2(AIRFLOW_DB_TEMPLATE, os.path.join(home, "airflow.db"))
        res = _run_airflow(_AIRFLOW_DAG_TEST, [d, dag_id], home, d, env, timeout)
    return res["state"], res["tasks"], res["findings"]
