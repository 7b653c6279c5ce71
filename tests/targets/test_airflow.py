"""The `airflow` target: DAGs that import cleanly, mean what the Plan says and run for real.

Specs are variants of the examples (their ``targets`` reduced to ``airflow``) or small
synthetic specs, written to a temporary folder and compiled with the same ``check_project``
+ ``emit_artifacts`` the CLI uses. Meaning is checked on the parsed DAG (``ast``): task
ids, operators, ``>>`` edges, retries, timeouts, schedules and literal values.

The validators run in the Airflow 3 venv (``tools/setup.sh``): every DAG of every example
imports into a DagBag with no error and no warning (both operators); the churn example's
pipeline runs end to end with ``dag.test()`` (passing and failing gate), its monitoring DAG
triggers a retrain, and a small project shows the run-time guards (no Jinja rendering, a
``.sh`` command, secrets by name).
"""

from __future__ import annotations

import ast
import copy
import json
import os
import random
import shutil
import subprocess
import tempfile
import tokenize
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from mlspec import diagnostics as dx
from mlspec.api import check_project, emit_artifacts
from mlspec.output.encoders import markdown_block, yaml_dump
from mlspec.language.loader import load_document
from mlspec.targets import airflow as af
from mlspec.targets.airflow import BASH, NO_RETRAIN_EXIT_CODE, NOT_IN_AIRFLOW
from tests import validators as V

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlproject.yaml"))
CHURN = ROOT / "examples" / "churn"

validator = pytest.mark.validator


# --------------------------------------------------------------------------- compiling


EXAMPLE_FOLDERS = {load_document(p)[0].data["project"]["name"]: p.parent
                   for p in (ROOT / "examples").glob("*/mlproject.yaml")}


def example_data(example: str) -> dict[str, Any]:
    doc, diags = load_document(ROOT / "examples" / example / "mlproject.yaml")
    assert doc is not None, diags
    return copy.deepcopy(doc.data)


def airflow_only(data: dict[str, Any], **options: Any) -> dict[str, Any]:
    """The spec with ``targets`` reduced to the airflow target (others may not be installed)."""
    data = copy.deepcopy(data)
    keep = {k: v for k, v in (data.get("targets") or {}).items() if k == "docker"}
    data["targets"] = {**keep, "airflow": {**(data.get("targets") or {}).get("airflow", {}), **options}}
    return data


@dataclass
class Compiled:
    folder: Path
    plan: Any
    files: dict[str, str]            # artifact path -> rendered text
    diagnostics: list[Any]
    workspace: str = "shared"        # where bash tasks run (targets.airflow.workspace, or its default)

    def dag(self, kind: str) -> str:
        (text,) = [t for p, t in self.files.items() if p.endswith(f"_{kind}.py")]
        return text

    def dags_folder(self) -> Path:
        return self.folder / "airflow" / "dags"


def compile_spec(folder: Path, data: dict[str, Any], *, project: Path | None = None, write: bool = True,
                 spec_name: str = "mlproject.yaml") -> Compiled:
    """Write ``data`` as the spec in ``folder`` (after copying ``project``'s files) and compile airflow."""
    folder.mkdir(parents=True, exist_ok=True)
    if project is not None:
        shutil.copytree(project, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            "airflow", "models", "metrics", ".mlspec", "prepared", "__pycache__"))
    spec = folder / spec_name
    spec.write_text(yaml_dump(data), encoding="utf-8")
    params = data.get("params_file")
    if project is None and isinstance(params, str) and not (folder / params).exists():
        # An example's params file, named beside its spec (the examples' project names are unique).
        owner = EXAMPLE_FOLDERS.get((data.get("project") or {}).get("name"))
        if owner is not None and (owner / params).is_file():
            (folder / params).parent.mkdir(parents=True, exist_ok=True)
            (folder / params).write_bytes((owner / params).read_bytes())
    checked = check_project(spec, display_name=spec_name, out_dir=folder, targets=["airflow"])
    errors = [d.to_json() for d in checked.diagnostics if d.is_error]
    if errors:
        return Compiled(folder, None, {}, checked.diagnostics)
    options = checked.options_for(["airflow"])
    artifacts = emit_artifacts(checked.plan, options)
    files = {a.path: a.render(checked.plan.source) for a in artifacts}
    workspace = af.workspace(checked.plan, options["airflow"])
    if write:
        for path, text in files.items():
            (folder / path).parent.mkdir(parents=True, exist_ok=True)
            (folder / path).write_text(text, encoding="utf-8")
    return Compiled(folder, checked.plan, files, checked.diagnostics, workspace)


def compiled_ok(folder: Path, data: dict[str, Any], **kw: Any) -> Compiled:
    result = compile_spec(folder, data, **kw)
    assert result.plan is not None, [d.to_json() for d in result.diagnostics if d.is_error]
    return result


# --------------------------------------------------------------------------- reading a DAG back


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple
    kwargs: dict


def dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return f"{dotted(node.func)}()"
    raise AssertionError(f"unexpected callee {ast.dump(node)}")


def value(node: ast.AST) -> Any:
    """A literal as its value, a call as :class:`Call`, a bare name as ``("name", id)``."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.Call):
        return Call(dotted(node.func), tuple(value(a) for a in node.args),
                    {k.arg: value(k.value) for k in node.keywords})
    if isinstance(node, ast.List):
        return [value(e) for e in node.elts]
    if isinstance(node, (ast.Name, ast.Attribute)):
        return ("name", dotted(node))
    if isinstance(node, ast.Starred):
        return ("starred", value(node.value))
    if isinstance(node, ast.BinOp):
        return ("binop", type(node.op).__name__, value(node.left), value(node.right))
    if isinstance(node, ast.BoolOp):
        return ("boolop", type(node.op).__name__, *[value(v) for v in node.values])
    return ("expr", ast.dump(node))


@dataclass
class Dag:
    kwargs: dict[str, Any]
    tasks: dict[str, Call]
    edges: set[tuple[str, str]]
    module: ast.Module
    constants: dict[str, Any]
    classes: dict[str, ast.ClassDef]


def _task_key(node: ast.AST) -> str:
    assert isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id == "tasks", \
        ast.dump(node)
    key = ast.literal_eval(node.slice)
    assert isinstance(key, str)
    return key


def parse_dag(text: str) -> Dag:
    module = ast.parse(text)
    (with_stmt,) = [s for s in module.body if isinstance(s, ast.With)]
    (item,) = with_stmt.items
    dag_call = value(item.context_expr)
    assert isinstance(dag_call, Call) and dag_call.name == "DAG"
    tasks: dict[str, Call] = {}
    edges: set[tuple[str, str]] = set()
    for stmt in with_stmt.body:
        if isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name):
            assert stmt.targets[0].id == "tasks" and isinstance(stmt.value, ast.Dict) and not stmt.value.keys
        elif isinstance(stmt, ast.Assign):
            key = _task_key(stmt.targets[0])
            call = value(stmt.value)
            assert isinstance(call, Call) and call.kwargs["task_id"] == key
            assert key not in tasks, f"task {key} defined twice"
            tasks[key] = call
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.BinOp):
            assert isinstance(stmt.value.op, ast.RShift)
            left, right = stmt.value.left, stmt.value.right
            ups = [_task_key(e) for e in left.elts] if isinstance(left, ast.List) else [_task_key(left)]
            edges |= {(u, _task_key(right)) for u in ups}
        else:
            pytest.fail(f"unexpected statement in the DAG body: {ast.dump(stmt)[:200]}")
    constants = {s.targets[0].id: value(s.value) for s in module.body
                 if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name)}
    classes = {s.name: s for s in module.body if isinstance(s, ast.ClassDef)}
    return Dag(dag_call.kwargs, tasks, edges, module, constants, classes)


def call_names(tree: ast.AST) -> list[str]:
    return sorted(dotted(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call))


def imports(tree: ast.Module) -> list[str]:
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            out += [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            out += [f"{n.module}.{a.name}" for a in n.names]
    return sorted(out)


def comments(text: str) -> list[str]:
    return [t.string for t in tokenize.generate_tokens(StringIO(text).readline)
            if t.type == tokenize.COMMENT and "mlspec-sha256" not in t.string]


def super_init(cls: ast.ClassDef) -> Call:
    """The keyword arguments a generated operator class passes to ``super().__init__``."""
    (call,) = [n for n in ast.walk(cls) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
               and n.func.attr == "__init__" and isinstance(n.func.value, ast.Call)]
    return Call("super().__init__", (), {k.arg: value(k.value) for k in call.keywords if k.arg})


def timeout_of(call: Call) -> int | None:
    t = call.kwargs.get("execution_timeout")
    if t is None:
        return None
    assert isinstance(t, Call) and t.name == "timedelta" and set(t.kwargs) == {"seconds"}
    return t.kwargs["seconds"]


# --------------------------------------------------------------------------- meaning


PIPELINE_EXAMPLES = [ex for ex in EXAMPLES if "training" in example_data(ex)]
MONITORING_EXAMPLES = [ex for ex in EXAMPLES if "monitoring" in example_data(ex)]
# Final tasks reporting the whole run: success when nothing failed (skips are fine), else failure.
REPORT_TASKS = {"report_success": "none_failed", "report_failure": "one_failed"}


def report_edges(tasks: list[str]) -> set[tuple[str, str]]:
    return {(t, r) for t in tasks for r in REPORT_TASKS}


def expected_bash(c: Compiled, node: Any, command: str | None = None) -> str:
    """The bash task's command: the node's, wrapped in the store round trip when isolated."""
    command = node.command if command is None else command
    return af.isolated_command(c.plan, node, command) if c.workspace == "isolated" else command


def assert_report_tasks(dag, whole: str, operator: str) -> None:
    for task_id, rule in REPORT_TASKS.items():
        task = dag.tasks[task_id]
        status = task_id.removeprefix("report_")
        command = task.kwargs["bash_command" if operator == "bash" else "command"]
        assert command.endswith(f"mlspec report-run --node {whole} --status {status} -- mlproject.yaml")
        assert task.kwargs["trigger_rule"] == rule


@pytest.mark.parametrize("operator", ["bash", "kubernetes"])
@pytest.mark.parametrize("example", PIPELINE_EXAMPLES)
def test_pipeline_dag_is_the_plan(tmp_path: Path, example: str, operator: str) -> None:
    c = compiled_ok(tmp_path, airflow_only(example_data(example), operator=operator), write=False)
    plan = c.plan
    dag = parse_dag(c.dag("pipeline"))
    nodes = [n for n in plan.nodes if n.kind not in NOT_IN_AIRFLOW]
    # one task per node, in plan order, then the two tasks reporting how the run ended
    assert list(dag.tasks) == [n.slug for n in nodes] + list(REPORT_TASKS)
    slug = {n.id: n.slug for n in plan.nodes}
    assert dag.edges == {(slug[u], n.slug) for n in nodes for u in n.needs if u in slug} | report_edges(
        [n.slug for n in nodes])
    assert_report_tasks(dag, "pipeline", operator)
    command_op = "MlspecPodOperator" if operator == "kubernetes" else "MlspecBashOperator"
    for n in nodes:
        task = dag.tasks[n.slug]
        if n.kind == "approve":
            assert task.name == "ApprovalOperator"
            continue
        assert task.name == command_op
        assert task.kwargs.get("retries", 0) == n.retries
        assert timeout_of(task) == n.timeout_seconds
        if operator == "bash":
            # isolated (the default with an object store): the store round trip around the command
            assert task.kwargs["bash_command"] == expected_bash(c, n)
            assert task.kwargs["env"] == dict(n.env)
            assert tuple(task.kwargs.get("mlspec_secrets", ())) == n.secrets
        else:
            assert task.kwargs["command"] == expected_bash(c, n).replace("$", "$$")
            assert task.kwargs["env_vars"] == {k: v.replace("$", "$$") for k, v in n.env}
            secrets = task.kwargs.get("secrets", [])
            assert [s.args for s in secrets] == [("env", s, ("name", "SECRET_NAME"), s) for s in n.secrets]
    # the DAG's own settings
    expected_schedule = plan.retraining.schedule if plan.retraining else None
    assert dag.kwargs["dag_id"] == plan.project.name.replace("-", "_") + "_pipeline"
    assert dag.kwargs["schedule"] == expected_schedule
    assert dag.kwargs["catchup"] is False and dag.kwargs["max_active_runs"] == 1
    start = dag.kwargs["start_date"]
    assert start == Call("datetime", (2024, 1, 1), {"tzinfo": ("name", "timezone.utc")})
    assert dag.kwargs["tags"][:2] == ["mlspec", plan.project.name]
    assert dag.kwargs["tags"][2:] == [f"{k}:{v}" for k, v in plan.project.labels]
    if plan.project.owners:
        assert dag.kwargs["default_args"] == {"owner": ", ".join(plan.project.owners)}
    if plan.project.description:
        assert markdown_block(plan.project.description) in dag.kwargs["doc_md"]


@pytest.mark.parametrize("example", MONITORING_EXAMPLES)
def test_monitoring_dag_is_the_plan(tmp_path: Path, example: str) -> None:
    c = compiled_ok(tmp_path, airflow_only(example_data(example)), write=False)
    plan = c.plan
    dag = parse_dag(c.dag("monitoring"))
    slugs = [n.slug for n in plan.monitor_nodes]
    retrain = [n for n in plan.monitor_nodes if n.kind == "retrain"]
    run_tasks = slugs + (["trigger_pipeline"] if retrain else [])
    assert list(dag.tasks) == run_tasks + list(REPORT_TASKS)
    slug = {n.id: n.slug for n in plan.monitor_nodes}
    expected = {(slug[u], n.slug) for n in plan.monitor_nodes for u in n.needs}
    if retrain:
        expected.add((retrain[0].slug, "trigger_pipeline"))
    assert dag.edges == expected | report_edges(run_tasks)
    assert_report_tasks(dag, "monitoring", "bash")
    assert dag.kwargs["schedule"] == plan.monitoring.schedule
    for n in plan.monitor_nodes:
        task = dag.tasks[n.slug]
        if n.kind == "retrain":
            # runs after the checks whatever they found; "no retrain" is Airflow's skip code
            assert task.kwargs["bash_command"] == expected_bash(c, n, n.command.replace(" -- ", " --exit-code -- ", 1))
            assert task.kwargs["trigger_rule"] == "all_done"
            assert task.kwargs["skip_on_exit_code"] == NO_RETRAIN_EXIT_CODE == 99
        else:
            # a finding is success for the task; the retrain task reads the recorded state
            head, sep, tail = n.command.rpartition(" -- ")      # the flag goes before the last `--`
            assert task.kwargs["bash_command"] == expected_bash(c, n, f"{head} --exit-zero-on-finding{sep}{tail}")
            assert "trigger_rule" not in task.kwargs and "skip_on_exit_code" not in task.kwargs
    if retrain:
        trigger = dag.tasks["trigger_pipeline"]
        assert trigger.name == "TriggerDagRunOperator"
        assert trigger.kwargs == {"task_id": "trigger_pipeline",
                                  "trigger_dag_id": plan.project.name.replace("-", "_") + "_pipeline"}


def test_churn_gate_approval_register_chain(tmp_path: Path) -> None:
    dag = parse_dag(compiled_ok(tmp_path, airflow_only(example_data("churn")), write=False).dag("pipeline"))
    assert ("evaluate", "gate") in dag.edges and ("gate", "approve") in dag.edges
    assert ("approve", "register") in dag.edges
    # churn's store is S3, so each task runs isolated: its inputs from the store, then the command
    assert dag.tasks["gate"].kwargs["bash_command"] == (
        "mlspec store restore --node gate -- mlproject.yaml\nmlspec gate -- mlproject.yaml")
    assert dag.tasks["register"].kwargs["bash_command"] == (
        "mlspec store restore --node register -- mlproject.yaml\nmlspec register -- mlproject.yaml")
    assert dag.tasks["train"].kwargs["bash_command"].endswith("\nmlspec store save --node train -- mlproject.yaml")
    approve = dag.tasks["approve"]
    assert approve.kwargs["defaults"] == "Reject"              # no answer = no release
    assert approve.kwargs["response_timeout"] == Call("timedelta", (), {"seconds": 7 * 86400})
    assert "execution_timeout" not in approve.kwargs           # deprecated for HITL operators
    assert "growth\\-ml\\-leads" in approve.kwargs["body"]       # reviewers, Markdown-escaped


def test_operators_render_nothing(tmp_path: Path) -> None:
    """The generated operators have no template fields or extensions: Airflow renders no spec text."""
    for operator, cls in (("bash", "MlspecBashOperator"), ("kubernetes", "MlspecPodOperator")):
        c = compiled_ok(tmp_path / operator, airflow_only(example_data("churn"), operator=operator), write=False)
        for kind in ("pipeline", "monitoring"):
            body = parse_dag(c.dag(kind)).classes[cls].body
            attrs = {s.targets[0].id: ast.literal_eval(s.value) for s in body if isinstance(s, ast.Assign)}
            assert attrs["template_fields"] == ()
            if operator == "bash":
                assert attrs["template_ext"] == ()


def test_compile_is_deterministic(tmp_path: Path) -> None:
    data = airflow_only(example_data("churn"))
    first = compiled_ok(tmp_path / "a", data, write=False).files
    assert compiled_ok(tmp_path / "b", data, write=False).files == first

    def shuffled(x: Any, rng: random.Random) -> Any:
        if isinstance(x, dict):
            items = list(x.items())
            rng.shuffle(items)
            return {k: shuffled(v, rng) for k, v in items}
        return [shuffled(v, rng) for v in x] if isinstance(x, list) else x

    for seed in range(3):
        again = compiled_ok(tmp_path / f"s{seed}", shuffled(data, random.Random(seed)), write=False).files
        assert again == first


# --------------------------------------------------------------------------- hostile text


HOSTILE = [
    "'''", '"""', "\\", "x\\", "');import os;os.system('id');('", '");import os;os.system("id");("',
    "a\nimport os\nos.system('id')", "# not a comment\nimport os",
    "zero\u200bwidth", "emoji 🚀 日本語", "$(id) `id` ${HOME} $HOME", "%s %(x)s {0} { } % #", "\\N{BULLET}",
    "\\u0027); import os; ('", "__import__('os').system('id')", "eval('1')", "; rm -rf / #", "x.sh", ".bash",
]


def hostile_spec(values: list[str]) -> dict[str, Any]:
    """Every free-text field that can reach a DAG file, filled from ``values``."""
    joined = " ".join(values)
    return {
        "mlspec": 1,
        "project": {"name": "demo", "description": "\n".join(values), "repository": values[0] + "');import os;os.system('id');(' \\ \"\"\" x.sh",
                    "owners": ["ml@example.com"], "labels": {"team": "x"}},
        "environment": {"env": {f"V{i:02d}": v for i, v in enumerate(values)}, "secrets": ["API_TOKEN"]},
        "params": {f"p{i:02d}": v for i, v in enumerate(values)},
        "steps": {"prep": {"run": "echo " + " ".join(f"${{params.p{i:02d}}}" for i in range(len(values)))
                           + " " + joined, "secrets": ["API_TOKEN"]}},
        "training": {"run": "python train.py " + joined, "outputs": {"model": "models/m.pkl"}},
        "targets": {"airflow": {}},
    }


@pytest.mark.parametrize("operator", ["bash", "kubernetes"])
def test_hostile_text_stays_literal(tmp_path: Path, operator: str) -> None:
    benign = compiled_ok(tmp_path / "benign", airflow_only(hostile_spec(["plain"] * len(HOSTILE)),
                                                           operator=operator), write=False)
    hostile = compiled_ok(tmp_path / "hostile", airflow_only(hostile_spec(HOSTILE), operator=operator),
                          write=False)
    text, base = hostile.dag("pipeline"), benign.dag("pipeline")
    tree, base_tree = ast.parse(text), ast.parse(base)
    # the same program: same imports, same calls, same statements; no comment gained text
    assert imports(tree) == imports(base_tree)
    assert call_names(tree) == call_names(base_tree)
    assert [type(s).__name__ for s in tree.body] == [type(s).__name__ for s in base_tree.body]
    assert comments(text) == comments(base)
    assert ast.get_docstring(tree) is None
    # and every value round-trips
    dag = parse_dag(text)
    plan = hostile.plan
    for n in plan.nodes:
        task = dag.tasks[n.slug]
        if operator == "bash":
            assert task.kwargs["bash_command"] == n.command and task.kwargs["env"] == dict(n.env)
        else:
            assert task.kwargs["command"].replace("$$", "$") == n.command
            assert {k: v.replace("$$", "$") for k, v in task.kwargs["env_vars"].items()} == dict(n.env)
    assert dict(plan.nodes[0].env)["V00"] == HOSTILE[0]
    assert markdown_block(plan.project.description) in dag.kwargs["doc_md"]


def test_airflow_jinja_in_the_spec_is_refused(tmp_path: Path) -> None:
    """The compiler refuses Jinja syntax anywhere (MS310); the operators would not render it anyway."""
    for payload in ("{{ conn.aws.password }}", "{% for x in y %}", "{# c #}", "x }} y"):
        data = hostile_spec(["plain"])
        data["training"]["run"] = f"python train.py --tag '{payload}'"
        result = compile_spec(tmp_path, data, write=False)
        assert result.plan is None
        assert any(d.code == "MS310" and d.path == ("training", "run") for d in result.diagnostics)


# --------------------------------------------------------------------------- options and limits


def test_secrets_are_names_only(tmp_path: Path) -> None:
    data = airflow_only(example_data("churn"))
    data["environment"]["secrets"] = ["AWS_ACCESS_KEY_ID", "DB_PASSWORD"]
    data["steps"]["prepare"]["secrets"] = ["DB_PASSWORD"]
    c = compiled_ok(tmp_path, data, write=False)
    dag = parse_dag(c.dag("pipeline"))
    assert dag.constants["PROJECT_SECRETS"] == ("AWS_ACCESS_KEY_ID", "DB_PASSWORD")
    assert dag.tasks["step_prepare"].kwargs["mlspec_secrets"] == ["DB_PASSWORD"]
    assert dag.tasks["train"].kwargs["mlspec_secrets"] == ["AWS_ACCESS_KEY_ID", "DB_PASSWORD"]
    assert "mlspec_secrets" not in dag.tasks["gate"].kwargs
    k8s = parse_dag(compiled_ok(tmp_path / "k", airflow_only(data, operator="kubernetes"), write=False)
                    .dag("pipeline"))
    assert k8s.constants["SECRET_NAME"] == "churn-secrets"
    assert [s.args for s in k8s.tasks["step_prepare"].kwargs["secrets"]] == [
        ("env", "DB_PASSWORD", ("name", "SECRET_NAME"), "DB_PASSWORD")]


def test_kubernetes_options(tmp_path: Path) -> None:
    data = airflow_only(example_data("churn"), operator="kubernetes", namespace="ml", volume_claim="churn-work")
    data["targets"]["docker"] = {"registry": "ghcr.io/example"}
    data["training"]["resources"] = {"cpu": "500m", "memory": "2Gi", "gpu": 1}
    data["training"]["env"] = {"TEMPLATE": "$(HOME) $$ ${X}"}
    checked = check_project(compiled_ok(tmp_path, data, write=False).folder / "mlproject.yaml",
                            out_dir=tmp_path, targets=["airflow", "docker"])
    assert checked.ok, [d.to_json() for d in checked.diagnostics]
    (art,) = [a for a in emit_artifacts(checked.plan, checked.options_for(["airflow"])) if a.path.endswith("_pipeline.py")]
    dag = parse_dag(art.content)
    # the training image the docker target pushes
    assert dag.constants["IMAGE"] == "ghcr.io/example/churn-train:latest"
    sup = super_init(dag.classes["MlspecPodOperator"])
    assert sup.kwargs["cmds"] == list(BASH)
    assert sup.kwargs["namespace"] == "ml"
    assert sup.kwargs["security_context"]["runAsNonRoot"] is True
    assert sup.kwargs["automount_service_account_token"] is False
    train = dag.tasks["train"]
    assert train.kwargs["command"].startswith("cd /workspace && python -m churn.train")
    assert train.kwargs["env_vars"]["TEMPLATE"] == "$$(HOME) $$$$ $${X}"  # the kubelet hands back the spec's text
    res = train.kwargs["container_resources"]
    assert res.name == "k8s.V1ResourceRequirements"
    assert res.kwargs == {"requests": {"cpu": "500m", "memory": "2Gi"},
                          "limits": {"memory": "2Gi", "nvidia.com/gpu": "1"}}


def test_kubernetes_pods_share_files_through_the_store(tmp_path: Path) -> None:
    """churn's store is S3: each pod restores its inputs and saves its outputs, nothing to warn about."""
    c = compiled_ok(tmp_path / "store", airflow_only(example_data("churn"), operator="kubernetes"), write=False)
    assert c.workspace == "isolated" and not [d for d in c.diagnostics if d.code == dx.TARGET_CANNOT_EXPRESS]
    train = parse_dag(c.dag("pipeline")).tasks["train"].kwargs["command"]
    assert train.startswith("mlspec store restore --node train -- mlproject.yaml\npython -m churn.train")
    assert train.endswith("\nmlspec store save --node train -- mlproject.yaml")


def test_kubernetes_without_shared_volume_warns(tmp_path: Path) -> None:
    """Told to share a disk it does not have (no volume_claim), the pods would lose the files."""
    c = compiled_ok(tmp_path, airflow_only(example_data("churn"), operator="kubernetes", workspace="shared"),
                    write=False)
    (warning,) = [d for d in c.diagnostics if d.code == dx.TARGET_CANNOT_EXPRESS]
    assert not warning.is_error and "volume_claim" in warning.hint
    assert "models/model.joblib" in warning.message or "data/prepared" in warning.message


@pytest.mark.parametrize(("options", "path"), [
    ({"dags_folder": "../dags"}, "dags_folder"),
    ({"dags_folder": "/abs/dags"}, "dags_folder"),
    ({"dags_folder": "a//b"}, "dags_folder"),
    ({"operator": "docker"}, "operator"),
    ({"project_dir": "relative/dir"}, "project_dir"),
    ({"project_dir": "/x\ny"}, "project_dir"),
    ({"image": "Not An Image"}, "image"),
    ({"namespace": "Bad_NS"}, "namespace"),
    ({"approval_timeout": "soon"}, "approval_timeout"),
    ({"dags": "x"}, "dags"),
])
def test_bad_options_are_errors(tmp_path: Path, options: dict[str, Any], path: str) -> None:
    result = compile_spec(tmp_path, airflow_only(example_data("churn"), **options), write=False)
    assert result.plan is None
    errors = [d for d in result.diagnostics if d.is_error]
    assert errors and all(d.path[:3] == ("targets", "airflow", path) for d in errors), \
        [d.to_json() for d in errors]


def test_label_longer_than_an_airflow_tag_is_reported(tmp_path: Path) -> None:
    data = airflow_only(example_data("churn"))
    data["project"]["labels"] = {"k" * 60: "v" * 60}
    result = compile_spec(tmp_path, data, write=False)
    assert any(d.code == dx.TARGET_CANNOT_EXPRESS and d.is_error and d.path == ("project", "labels")
               for d in result.diagnostics)


def test_project_dir(tmp_path: Path) -> None:
    c = compiled_ok(tmp_path / "a", airflow_only(example_data("churn"), dags_folder="orchestration/airflow/dags"),
                    write=False)
    assert set(c.files) == {"orchestration/airflow/dags/churn_pipeline.py",
                            "orchestration/airflow/dags/churn_monitoring.py"}
    expr = parse_dag(c.dag("pipeline")).constants["PROJECT_DIR"]
    assert ("starred", ["..", "..", ".."]) in str_walk(expr)
    c = compiled_ok(tmp_path / "b", airflow_only(example_data("churn"), project_dir="/opt/projects/churn"),
                    write=False)
    assert parse_dag(c.dag("pipeline")).constants["PROJECT_DIR"] == (
        "boolop", "Or", Call("os.environ.get", ("MLSPEC_PROJECT_DIR",), {}), "/opt/projects/churn")


def str_walk(x: Any) -> list[Any]:
    out = [x]
    if isinstance(x, Call):
        for a in (*x.args, *x.kwargs.values()):
            out += str_walk(a)
    elif isinstance(x, tuple):
        for a in x:
            out += str_walk(a)
    return out


def test_spec_without_monitoring_or_pipeline(tmp_path: Path) -> None:
    data = {"mlspec": 1, "project": {"name": "tiny-one"},
            "training": {"run": "python train.py", "outputs": {"model": "m.pkl"}}}
    c = compiled_ok(tmp_path, data, write=False)
    assert set(c.files) == {"airflow/dags/tiny_one_pipeline.py"}  # '-' becomes '_' in ids and files
    dag = parse_dag(c.dag("pipeline"))
    assert dag.kwargs["dag_id"] == "tiny_one_pipeline" and dag.kwargs["schedule"] is None
    assert "default_args" not in dag.kwargs


# --------------------------------------------------------------------------- validators


def _examples_compiled(base: Path) -> list[tuple[str, str, Compiled]]:
    out = []
    for example in EXAMPLES:
        for operator in ("bash", "kubernetes"):
            data = airflow_only(example_data(example), operator=operator)
            out.append((example, operator, compiled_ok(base / f"{example}-{operator}", data)))
    return out


@validator
def test_every_example_dag_imports_cleanly(tmp_path: Path) -> None:
    """DagBag: no import error and no warning, for every example and both operators."""
    compiled = _examples_compiled(tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda c: V.airflow_dagbag(c[2].dags_folder()), compiled))
    for (example, operator, c), (dag_ids, findings) in zip(compiled, results):
        assert findings == [], (example, operator)
        assert sorted(dag_ids) == sorted(Path(p).stem for p in c.files), (example, operator)


@validator
def test_every_example_dag_passes_pyflakes(tmp_path: Path) -> None:
    files = [c.dags_folder() / Path(p).name for _, _, c in _examples_compiled(tmp_path) for p in c.files]
    assert V.pyflakes(files) == []


_POD_SPECS = r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
from kubernetes.client import ApiClient
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
assert not bag.import_errors, bag.import_errors
pods = {}
for dag_id in sorted(bag.dag_ids):
    for task in bag.dags[dag_id].tasks:
        if hasattr(task, "build_pod_request_obj"):
            pods[f"{dag_id}.{task.task_id}"] = ApiClient().sanitize_for_serialization(task.build_pod_request_obj())
json.dump(pods, open(sys.argv[2], "w"))
"""


@validator
def test_kubernetes_pods_are_valid(tmp_path: Path) -> None:
    """Each KubernetesPodOperator builds a Pod that kubernetes-validate accepts (strict), as compiled."""
    data = airflow_only(example_data("churn"), operator="kubernetes", volume_claim="churn-work")
    data["environment"]["secrets"] = ["AWS_ACCESS_KEY_ID"]
    data["training"]["resources"]["gpu"] = 1
    c = compiled_ok(tmp_path / "project", data)
    kubeconfig = tmp_path / "kubeconfig"   # the operator reads a config to build a pod; nothing connects
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "x", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}), encoding="utf-8")
    out = tmp_path / "pods.json"
    py = V._airflow_python()
    with tempfile.TemporaryDirectory() as home:
        env = V._airflow_env(home, str(c.dags_folder()), {"KUBECONFIG": str(kubeconfig)})
        r = subprocess.run([py, "-c", _POD_SPECS, str(c.dags_folder()), str(out)], env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    pods = json.loads(out.read_text())
    plan_nodes = [n for n in (*c.plan.nodes, *c.plan.monitor_nodes) if n.command]
    dags = sum(bool(nodes) for nodes in (c.plan.nodes, c.plan.monitor_nodes))
    assert len(pods) == len(plan_nodes) + len(REPORT_TASKS) * dags
    manifests = tmp_path / "pods.yaml"
    manifests.write_text("---\n".join(yaml_dump(p) for p in pods.values()), encoding="utf-8")
    assert V.kubernetes_validate(manifests) == []
    (train,) = pods["churn_pipeline.train"]["spec"]["containers"]
    assert train["command"] == list(BASH) and train["args"][0].startswith("cd /workspace && ")
    assert {"name": "AWS_ACCESS_KEY_ID",
            "valueFrom": {"secretKeyRef": {"name": "churn-secrets", "key": "AWS_ACCESS_KEY_ID"}}} in train["env"]
    assert train["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pods["churn_pipeline.train"]["spec"]["automountServiceAccountToken"] is False
    assert pods["churn_monitoring.retrain"]["spec"]["containers"][0]["args"] == [
        "cd /workspace && mlspec retrain-trigger --exit-code -- mlproject.yaml"]


# --------------------------------------------------------------------------- running the DAGs


def _venv_ready() -> None:
    """The Airflow venv must hold this checkout's mlspec (same targets) and the example's needs."""
    py = V._airflow_python()
    probe = ("import json, sklearn, joblib, numpy, mlspec.runtime.gate_cli; "
             "from mlspec.targets import available_targets; import mlspec; "
             "print(json.dumps([mlspec.__file__, sorted(available_targets())]))")
    r = subprocess.run([py, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    if r.returncode != 0:
        pytest.skip("the Airflow venv lacks mlspec[runtime] or the example's requirements "
                    f"({r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}): {V.SETUP_HINT}")
    where, targets = json.loads(r.stdout)
    # The runtime commands validate the spec's `targets:`: the venv must know the ones used here.
    if Path(where).resolve().parent != (ROOT / "mlspec").resolve() or "airflow" not in targets:
        pytest.skip(f"the Airflow venv's mlspec ({where}, targets {targets}) is not this checkout's: {V.SETUP_HINT}")


def _run_env(extra: dict[str, str] | None = None, storage: str | None = ".mlspec/store") -> dict[str, str]:
    """Tasks find the venv's python and mlspec first, as on a worker with the project installed;
    ``storage`` replaces the spec's object store (a folder beside it; None: the spec's own, which
    the isolated run points at the loopback S3 server)."""
    env = {"PATH": f"{V.AIRFLOW_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", **(extra or {})}
    if storage is not None:
        env["MLSPEC_STORAGE"] = storage
    return env


# Steps that show the run-time guards. They ride along in the failing-gate run (independent of
# the gate) so that the suite pays for one Airflow start-up less.
GUARD_STEPS = {
    # ends in '.sh': a stock BashOperator would read it as a Jinja template file and fail
    "guard_script": {"run": "bash scripts/report.sh", "secrets": ["GRANTED_TOKEN"]},
    # JINJA is replaced in the generated DAG by real Jinja (as if it had got past the compiler)
    "guard_literal": {"run": "mkdir -p out && printf '%s\\n' JINJA > out/jinja.txt", "secrets": []},
}
GUARD_SECRETS = ["GRANTED_TOKEN", "OTHER_TOKEN"]
GUARD_ENV = {"OTHER_TOKEN": "from-the-worker", "AIRFLOW_VAR_GRANTED_TOKEN": "from-a-variable"}
REPORT_SH = ('mkdir -p out\n'
             'printf "granted=%s\\nother=%s\\n" "${GRANTED_TOKEN:-unset}" "${OTHER_TOKEN:-unset}" > out/env.txt\n')
JINJA = "{{ 7 * 7 }} {% if true %}rendered{% endif %} {{ var.value.anything }}"


def _with_guards(c: Compiled) -> Compiled:
    (c.folder / "scripts").mkdir(exist_ok=True)
    (c.folder / "scripts" / "report.sh").write_text(REPORT_SH, encoding="utf-8")
    (dag_file,) = c.dags_folder().glob("*_pipeline.py")
    text = dag_file.read_text(encoding="utf-8")
    old = c.plan.node("step.guard_literal").command
    new = old.replace("JINJA", "'" + JINJA + "'")
    assert text.count(repr(old)) == 1
    dag_file.write_text(text.replace(repr(old), repr(new)), encoding="utf-8")
    return c


def _dag_test(folder: Path, dag_id: str, env: dict[str, str] | None = None,
              storage: str | None = ".mlspec/store") -> dict[str, Any]:
    import time

    start = time.monotonic()
    state, tasks, findings = V.airflow_dag_test(folder, dag_id, env=_run_env(env, storage))
    return {"state": state, "tasks": tasks, "findings": findings, "seconds": round(time.monotonic() - start, 1)}


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below ``folder`` with its size and modification time."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_size if p.is_file() else -1, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def _read_only(folder: Path, writable: bool = False) -> None:
    """The project and its DAG folder as git-sync mounts them (or give them back to the test)."""
    for p in [folder, *folder.rglob("*")]:
        if not p.is_symlink():
            p.chmod((0o755 if p.is_dir() else 0o644) if writable else (0o555 if p.is_dir() else 0o444))


class _Store:
    """The runs' objects and documents in the loopback S3 server, read as an auditor would."""

    def __init__(self, s3: Any, bucket: str) -> None:
        import pyarrow.fs as pafs

        self.fs = pafs.S3FileSystem(endpoint_override=s3.endpoint, scheme="http", region=s3.region,
                                    access_key=s3.access_key, secret_key=s3.secret_key)
        self.root = f"{bucket}/churn"
        self.keys = lambda: [k.removeprefix("churn/") for k in s3.keys(bucket, "churn/")]

    def json(self, key: str) -> Any:
        with self.fs.open_input_stream(f"{self.root}/{key}") as fh:
            return json.loads(fh.read())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, s3_server: Any) -> Any:
    """The real runs, two at a time. The churn pipeline, then monitoring twice, with each task in
    its own temporary folder, files moving only through the store on the loopback S3 server, and
    the project and DAG folders read-only; beside it the failing gate with the guards, in the
    shared project folder."""
    _venv_ready()
    base = tmp_path_factory.mktemp("airflow-runs")
    no_approval = airflow_only(example_data("churn"))
    no_approval["validation"]["approval"] = {"required": False}   # a person cannot click in a test
    bucket = s3_server.make_bucket()
    isolated = copy.deepcopy(no_approval)
    isolated["storage"] = {"uri": f"s3://{bucket}/churn", "endpoint": s3_server.endpoint_url,
                           "secrets": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]}
    passing = compiled_ok(base / "passing", isolated, project=CHURN)
    assert passing.workspace == "isolated"                          # the default with an object store
    failing_data = copy.deepcopy(no_approval)
    failing_data["targets"]["airflow"]["workspace"] = "shared"
    failing_data["params"]["min_samples_leaf"] = 100000           # the forest learns nothing: roc_auc 0.5
    failing_data["steps"].update(copy.deepcopy(GUARD_STEPS))
    failing_data["environment"]["secrets"] = GUARD_SECRETS        # every other task gets both
    failing = _with_guards(compiled_ok(base / "failing", failing_data, project=CHURN))
    assert failing.workspace == "shared"
    workers = {**s3_server.env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}   # the spec names its endpoint

    _read_only(passing.folder)
    before = _tree(passing.folder)

    def pipeline_then_monitoring() -> dict[str, Any]:
        first = _dag_test(passing.dags_folder(), "churn_pipeline", workers, storage=None)
        return {"pipeline": first,
                "monitoring": _dag_test(passing.dags_folder(), "churn_monitoring", workers, storage=None),
                "monitoring_again": _dag_test(passing.dags_folder(), "churn_monitoring", workers, storage=None)}

    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            a = pool.submit(pipeline_then_monitoring)
            b = pool.submit(_dag_test, failing.dags_folder(), "churn_pipeline", GUARD_ENV)
            out = {**a.result(), "failing": b.result()}
        out["written_into_project"] = sorted(set(_tree(passing.folder).items()) ^ set(before.items()))
    finally:
        _read_only(passing.folder, writable=True)
    out["folders"] = {"passing": passing.folder, "failing": failing.folder}
    out["store"] = _Store(s3_server, bucket)
    print("\ndag.test() seconds:", {k: v["seconds"] for k, v in out.items() if isinstance(v, dict) and "seconds" in v})
    return out


def _registry_versions(folder: Path) -> list[Path]:
    return sorted((folder / ".mlspec" / "store" / "registry").glob("*/versions/*/metadata.json"))


@validator
@pytest.mark.slow
def test_pipeline_runs_end_to_end(runs: dict[str, Any]) -> None:
    run = runs["pipeline"]
    assert run["findings"] == [] and run["state"] == "success"
    assert run["tasks"] == {**dict.fromkeys(
        ["check_customers", "step_prepare", "train", "evaluate", "gate", "register"], "success"),
        "report_success": "success", "report_failure": "skipped"}      # the run reports its outcome
    # Every task ran in its own temporary folder: nothing was written into the (read-only) project
    # or DAG folder; the outputs crossed tasks through the store, where the version is registered.
    assert runs["written_into_project"] == []
    store = runs["store"]
    keys = store.keys()
    (metadata,) = [k for k in keys if k.startswith("registry/churn-classifier/versions/") and
                   k.endswith("/metadata.json")]
    assert metadata == "registry/churn-classifier/versions/1/metadata.json"
    assert store.json(metadata)["metrics"]["roc_auc"] >= 0.75
    records = sorted(k.rsplit("/", 1)[1] for k in keys if k.startswith("refs/runs/"))
    assert {"step.prepare.json", "train.json", "evaluate.json"} <= set(records), records


@validator
@pytest.mark.slow
def test_failing_gate_stops_registration(runs: dict[str, Any]) -> None:
    run = runs["failing"]
    assert run["state"] == "failed"
    assert run["tasks"]["gate"] == "failed" and run["tasks"]["register"] == "upstream_failed"
    upstream = ("check_customers", "step_prepare", "train", "evaluate", "step_guard_script", "step_guard_literal")
    assert all(run["tasks"][t] == "success" for t in upstream), run["tasks"]
    assert _registry_versions(runs["folders"]["failing"]) == []
    result = json.loads((runs["folders"]["failing"] / ".mlspec" / "gates" / "result.json").read_text())
    assert result["passed"] is False


@validator
@pytest.mark.slow
def test_monitoring_finds_drift_and_triggers_the_pipeline(runs: dict[str, Any]) -> None:
    """Checks that find drift succeed (a finding is not a crash) and record it; retrain-trigger
    decides from the records, the trigger runs, the run succeeds."""
    run = runs["monitoring"]
    assert run["state"] == "success", run
    tasks = run["tasks"]
    assert all(tasks[t] == "success" for t in ("monitor_drift", "monitor_performance", "monitor_schema",
                                               "monitor_freshness", "monitor_check_prediction_drift")), tasks
    # Each check ran in its own folder; the results met in the store, where retrain-trigger read them.
    store = runs["store"]
    kinds = ("drift", "performance", "custom.prediction_drift")
    assert {k: store.json(f"refs/monitoring/{k}.json")["status"] for k in kinds} == dict.fromkeys(kinds, "finding")
    # The team's own check ran its command against the production model and judged the JSON it wrote.
    custom = store.json("refs/monitoring/custom.prediction_drift.json")
    psi = next(r for r in custom["results"] if r["metric"] == "prediction.psi")
    assert psi["value"] > 0.25 and psi["within_bounds"] is False
    assert tasks["retrain"] == "success" and tasks["trigger_pipeline"] == "success"
    state = store.json("refs/monitoring/retrain.json")
    assert {r["event"] for r in state["reasons"]} == {"data_drift", "concept_drift", "custom_check"}
    # The next run, on other temporary folders, finds the cooldown the first one started: no retrain
    # (Airflow's skip), so no second pipeline; the run itself succeeds.
    again = runs["monitoring_again"]
    assert again["state"] == "success", again
    assert again["tasks"]["retrain"] == "skipped" and again["tasks"]["trigger_pipeline"] == "skipped"
    assert store.json("refs/monitoring/retrain.json") == state
    assert runs["written_into_project"] == []


@validator
@pytest.mark.slow
def test_run_time_guards(runs: dict[str, Any]) -> None:
    """A '.sh' command runs as written, Jinja is not rendered, secrets arrive by name only."""
    run = runs["failing"]
    assert run["tasks"]["step_guard_script"] == "success" and run["tasks"]["step_guard_literal"] == "success"
    out = runs["folders"]["failing"] / "out"
    assert (out / "jinja.txt").read_text(encoding="utf-8") == JINJA + "\n"
    # the granted secret came from an Airflow Variable; the other one was removed from the worker's env
    assert (out / "env.txt").read_text(encoding="utf-8") == "granted=from-a-variable\nother=unset\n"


# --------------------------------------------------------------------------- stated minimum versions

_REQUIRES_CHECK = r"""
import ast, inspect, json, sys
from importlib.metadata import version
from packaging.requirements import Requirement

findings, seen = [], set()
for path in sys.argv[1:-1]:
    tree = ast.parse(open(path, encoding="utf-8").read())
    (requires,) = [ast.literal_eval(n.value) for n in tree.body
                   if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "REQUIRES"]
    for text in requires:
        req = Requirement(text)
        seen.add(text)
        if not req.specifier.contains(version(req.name), prereleases=True):
            findings.append(f"{path}: {req.name} {version(req.name)} does not satisfy {text}")
from airflow.providers.standard.operators.hitl import ApprovalOperator
# ApprovalOperator passes it on to HITLOperator: look along the class chain.
if not any("response_timeout" in inspect.signature(c.__init__).parameters for c in ApprovalOperator.__mro__
           if "__init__" in vars(c)):
    findings.append("ApprovalOperator takes no response_timeout")
json.dump({"findings": findings, "seen": sorted(seen)}, open(sys.argv[-1], "w"))
"""


# --------------------------------------------------------------------------- the approver for the audit record

_APPROVER = r"""
import json, sys
from datetime import datetime, timezone
from airflow.dag_processing.dagbag import DagBag
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
assert not bag.import_errors, bag.import_errors
dag = bag.dags["churn_pipeline"]


class TI:
    # What ApprovalOperator leaves in XCom when a person answers (HITLTriggerEventSuccessPayload).
    def xcom_pull(self, task_ids):
        assert task_ids == "approve", task_ids
        return {"chosen_options": ["Approve"], "params_input": {}, "timedout": False,
                "responded_by_user": {"id": "7", "name": "ada$(id)"},
                "responded_at": datetime(2026, 12, 1, 9, 30, tzinfo=timezone.utc)}


out = {"others": [t.task_id for t in dag.tasks if getattr(t, "mlspec_approval_task", None)]}
register = dag.get_task("register")
if hasattr(register, "get_env"):
    env = register.get_env({"ti": TI()})
    out["env"] = {k: env[k] for k in env if k.startswith("MLSPEC_APPROV")}
else:
    from kubernetes.client import ApiClient

    seen = {}
    # Instead of starting the pod: the pod it would start.
    KubernetesPodOperator.execute = lambda self, context: seen.update(
        ApiClient().sanitize_for_serialization(self.build_pod_request_obj()))
    register.execute({"ti": TI()})
    (container,) = seen["spec"]["containers"]
    out["env"] = {e["name"]: e["value"] for e in container["env"] if e["name"].startswith("MLSPEC_APPROV")}
json.dump(out, open(sys.argv[2], "w"))
"""


@validator
def test_every_dag_states_the_versions_it_needs_and_the_tested_airflow_meets_them(tmp_path: Path) -> None:
    """Each generated DAG names its oldest Airflow and providers (REQUIRES); the Airflow the tests
    run satisfies every one of them, and has the ApprovalOperator argument the approval relies on."""
    from mlspec.targets.airflow import MIN_AIRFLOW, MIN_STANDARD

    dags = sorted(str(p) for p in (ROOT / "examples").glob("*/airflow/dags/*.py"))
    assert dags
    out = tmp_path / "result.json"
    r = subprocess.run([V._airflow_python(), "-c", _REQUIRES_CHECK, *dags, str(out)], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["findings"] == []
    assert {MIN_AIRFLOW, MIN_STANDARD} <= set(result["seen"])   # the churn pipeline has an approval


@validator
@pytest.mark.parametrize("operator", ["bash", "kubernetes"])
def test_register_task_passes_the_approvals_responder(tmp_path: Path, operator: str) -> None:
    """The register task hands `mlspec register` who answered the Human-in-the-loop approval and
    when, from the approval task's XCom (the audit record names them)."""
    c = compiled_ok(tmp_path / "project", airflow_only(example_data("churn"), operator=operator))
    out = tmp_path / "approver.json"
    kubeconfig = tmp_path / "kubeconfig"   # the operator reads a config to build a pod; nothing connects
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:6443"}}],
        "users": [{"name": "x", "user": {"token": "not-a-secret"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}), encoding="utf-8")
    with tempfile.TemporaryDirectory() as home:
        env = V._airflow_env(home, str(c.dags_folder()), {"KUBECONFIG": str(kubeconfig)})
        r = subprocess.run([V._airflow_python(), "-c", _APPROVER, str(c.dags_folder()), str(out)], env=env,
                           capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["others"] == ["register"]          # only registration asks who approved
    # In a pod the kubelet would expand $(NAME): '$' is doubled there, as in every variable.
    name = "ada$(id)" if operator == "bash" else "ada$$(id)"
    assert result["env"] == {"MLSPEC_APPROVER": name, "MLSPEC_APPROVED_AT": "2026-12-01T09:30:00+00:00",
                             "MLSPEC_APPROVAL_SOURCE": "airflow"}
