"""The package's shape, enforced: Document → Spec → Plan → Artifacts, targets as plugins.

Import rules (module-level and function-level imports alike, read from the source with ``ast``):

- a target never imports another target (shared helpers live in ``mlspec.targets.toolkit``);
- the language and the compiler never import a target, the runtime, the writer or the CLI;
- the runtime never imports a target;
- nothing but the CLI imports the CLI.
"""

from __future__ import annotations

import ast
import dataclasses
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mlspec"
BUILTIN_TARGETS = {"airflow", "docker", "github_actions", "grafana", "kubernetes", "manifest", "model_card",
                   "prometheus"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every mlspec module ``path`` imports, anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    inside = path.is_relative_to(ROOT)
    name = module_name(path) if inside else path.stem
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mlspec"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("mlspec"):
                continue
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)  # `from mlspec.targets import docker`
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}


def target_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[:2] == ["mlspec", "targets"] and parts[2] in BUILTIN_TARGETS:
        return parts[2]
    return None


def violations(modules: dict[str, set[str]]) -> list[str]:
    out = []
    for mod, deps in sorted(modules.items()):
        for dep in sorted(deps):
            own, other = target_of(mod), target_of(dep)
            if own and other and own != other:
                out.append(f"{mod} imports target {dep}")
            layer = mod.split(".")[1] if mod.count(".") else ""
            if layer in ("language", "compiler") and dep.startswith(
                    ("mlspec.targets", "mlspec.runtime", "mlspec.output.writer", "mlspec.cli", "mlspec.api")):
                out.append(f"{mod} ({layer}) imports {dep}")
            if layer == "runtime" and dep.startswith("mlspec.targets"):
                out.append(f"{mod} (runtime) imports {dep}")
            if layer != "cli" and mod != "mlspec.__main__" and dep.startswith("mlspec.cli"):
                out.append(f"{mod} imports the CLI ({dep})")
    return out


def test_the_package_keeps_its_import_rules() -> None:
    assert violations(graph()) == []


def test_the_import_rules_would_catch_a_target_importing_another() -> None:
    """The check is not vacuous: airflow importing docker, the compiler importing a target, and the
    runtime importing a target are each reported."""
    modules = graph()
    modules["mlspec.targets.airflow"] = modules["mlspec.targets.airflow"] | {"mlspec.targets.docker"}
    modules["mlspec.compiler.resolve"] = modules["mlspec.compiler.resolve"] | {"mlspec.targets.docker"}
    modules["mlspec.runtime.registry"] = modules["mlspec.runtime.registry"] | {"mlspec.targets.manifest"}
    assert violations(modules) == [
        "mlspec.compiler.resolve (compiler) imports mlspec.targets.docker",
        "mlspec.runtime.registry (runtime) imports mlspec.targets.manifest",
        "mlspec.targets.airflow imports target mlspec.targets.docker",
    ]


def test_relative_and_function_level_imports_are_seen(tmp_path: Path) -> None:
    pkg = tmp_path / "mlspec" / "targets"
    pkg.mkdir(parents=True)
    f = pkg / "x.py"
    f.write_text("def f():\n    from .docker import DockerTarget\n    from mlspec.targets import grafana\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert {"mlspec.targets.docker", "mlspec.targets.grafana"} <= imports_of(f)
    finally:
        ROOT = saved


def test_every_layer_is_a_folder() -> None:
    """A newcomer sees the pipeline from the folder list."""
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert {"language", "compiler", "targets", "output", "runtime", "cli"} <= folders


# --------------------------------------------------------------------------- a fourth-party target


PLUGIN = textwrap.dedent('''
    """A third-party target: one file per pipeline node, from the Plan alone."""
    from mlspec.output.artifacts import Artifact
    from mlspec.targets import Capabilities, Target, TargetOptions


    class NotesOptions(TargetOptions):
        heading: str = "Pipeline"


    class NotesTarget(Target):
        name = "notes"
        options_model = NotesOptions

        def capabilities(self):
            return Capabilities(gpu=False, hint="run GPU nodes elsewhere")

        def emit(self, plan):
            lines = [f"# {self.options.heading} of {plan.project.name}"]
            lines += [f"- {n.id} ({n.kind}) after {', '.join(n.needs) or 'nothing'}" for n in plan.nodes]
            lines.append(f"- images run as uid {plan.images.uid}; training image {plan.images.train.ref}")
            return [Artifact("notes/pipeline.md", "\\n".join(lines) + "\\n", self.name, "notes", comment="<!--")]
''')


def test_a_fourth_party_target_emits_from_the_plan_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from mlspec import targets
    from mlspec.api import compile_project

    plugin_dir = tmp_path / "site"
    plugin_dir.mkdir()
    (plugin_dir / "mlspec_notes.py").write_text(PLUGIN, encoding="utf-8")
    assert not [d for d in imports_of(plugin_dir / "mlspec_notes.py") if target_of(d)]
    monkeypatch.syspath_prepend(str(plugin_dir))

    real = metadata.entry_points
    notes = metadata.EntryPoint("notes", "mlspec_notes:NotesTarget", targets.GROUP)

    def entry_points(**kw):
        found = real(**kw)
        return metadata.EntryPoints([*found, notes]) if kw.get("group") == targets.GROUP else found

    monkeypatch.setattr(targets, "entry_points", entry_points)
    targets.available_targets.cache_clear()
    try:
        project = tmp_path / "proj"
        project.mkdir()
        (project / "mlproject.yaml").write_text(textwrap.dedent("""\
            mlspec: 1
            project: {name: demo}
            training:
              run: python train.py
              resources: {gpu: 1}
              outputs: {model: models/model.pkl}
            targets:
              notes: {heading: Steps}
              docker: {uid: 20000}
              github_actions: {gpu_runs_on: [self-hosted, gpu]}
            """), encoding="utf-8")
        result = compile_project(project / "mlproject.yaml", out_dir=project, targets=["notes"])
        assert result.ok, [d.to_json() for d in result.diagnostics]
        text = (project / "notes" / "pipeline.md").read_text()
        assert "# Steps of demo" in text and "- train (train) after nothing" in text
        assert "uid 20000; training image demo-train:latest" in text
        # Its capability gap is reported the way every target's is.
        (gap,) = [d for d in result.diagnostics if d.code == "MS402"]
        assert gap.message == "notes: cannot express resources.gpu of train" and gap.hint == "run GPU nodes elsewhere"
        assert gap.dotted_path == "training.resources.gpu" and gap.span is not None
    finally:
        targets.available_targets.cache_clear()


# --------------------------------------------------------------------------- one answer per fact


def test_the_uid_the_user_set_is_the_uid_of_every_artifact(tmp_path: Path) -> None:
    from mlspec.api import compile_project

    (tmp_path / "mlproject.yaml").write_text(textwrap.dedent("""\
        mlspec: 1
        project: {name: demo}
        training: {run: python train.py, outputs: {model: models/model.pkl}}
        serving: {mode: online, run: python serve.py, port: 8080, slo: {latency_p95_ms: 100}}
        targets:
          docker: {uid: 20000}
          kubernetes: {enabled: true}
          airflow: {operator: kubernetes, volume_claim: shared}
        """), encoding="utf-8")
    result = compile_project(tmp_path / "mlproject.yaml", out_dir=tmp_path)
    assert result.ok, [d.to_json() for d in result.diagnostics if d.is_error]
    texts = {a.path: a.content for a in result.artifacts}
    assert "USER 20000:20000" in texts["docker/demo.serve.Dockerfile"] or "USER 20000" in texts["docker/demo.serve.Dockerfile"]
    assert "runAsUser: 20000" in texts["k8s/demo.yaml"]
    dag = next(t for p, t in texts.items() if p.endswith("_pipeline.py"))
    assert "20000" in dag
    for path, text in texts.items():
        assert "10001" not in text, f"{path} names the default uid although the user set 20000"


def test_one_cron_policy_for_every_target(tmp_path: Path) -> None:
    """A schedule written with names and Sunday as 7 reaches every target in the same form."""
    import yaml

    from mlspec.api import compile_project

    (tmp_path / "mlproject.yaml").write_text(textwrap.dedent("""\
        mlspec: 1
        project: {name: demo}
        training: {run: python train.py, outputs: {model: models/model.pkl}}
        serving: {mode: batch, run: python score.py, schedule: "0 2 * * sat-7"}
        retraining: {schedule: "0 3 1 jan,jul 7"}
        targets: {kubernetes: {enabled: true}}
        """), encoding="utf-8")
    result = compile_project(tmp_path / "mlproject.yaml", out_dir=tmp_path)
    assert result.ok, [d.to_json() for d in result.diagnostics if d.is_error]
    texts = {a.path: a.content for a in result.artifacts}
    # Airflow owns the retraining schedule by default; GitHub gets the same form when it owns it.
    assert "schedule" not in yaml.safe_load(texts[".github/workflows/demo-train.yml"])["on"]
    assert "'0 3 1 1,7 0'" in texts["airflow/dags/demo_pipeline.py"]
    (job,) = yaml.safe_load_all(texts["k8s/demo.yaml"])
    assert job["spec"]["schedule"] == "0 2 * * 0,6"
    spec = tmp_path / "mlproject.yaml"
    spec.write_text(spec.read_text().replace('retraining: {schedule: "0 3 1 jan,jul 7"}',
                                             'retraining: {schedule: "0 3 1 jan,jul 7", scheduler: github_actions}'))
    result = compile_project(spec, out_dir=tmp_path)
    assert result.ok, [d.to_json() for d in result.diagnostics if d.is_error]
    texts = {a.path: a.content for a in result.artifacts}
    train = yaml.safe_load(texts[".github/workflows/demo-train.yml"])
    assert train["on"]["schedule"] == [{"cron": "0 3 1 1,7 0"}]
    assert "'0 3 1 1,7 0'" not in texts["airflow/dags/demo_pipeline.py"]


def test_serving_selector_is_one_fact_for_rules_and_dashboard(tmp_path: Path) -> None:
    import json

    from mlspec.api import compile_project

    (tmp_path / "mlproject.yaml").write_text(textwrap.dedent("""\
        mlspec: 1
        project: {name: demo}
        serving:
          mode: online
          run: python serve.py
          port: 8080
          slo: {latency_p95_ms: 100, error_rate: 0.01}
          metrics: {labels: {job: demo-api}}
        monitoring:
          alerts: [{channel: webhook, to: "https://hooks.example.com/x"}]
        """), encoding="utf-8")
    result = compile_project(tmp_path / "mlproject.yaml", out_dir=tmp_path)
    assert result.ok, [d.to_json() for d in result.diagnostics if d.is_error]
    texts = {a.path: a.content for a in result.artifacts}
    import yaml

    rules = yaml.safe_load(texts["monitoring/prometheus/demo.rules.yml"])
    recorded = [r["expr"] for g in rules["groups"] for r in g["rules"] if "record" in r]
    dashboard = json.loads(next(t for p, t in texts.items() if p.endswith(".dashboard.json")))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", ())
             if "http_request" in t["expr"]]
    assert exprs and all('job="demo-api"' in e for e in exprs)
    assert recorded and all('job="demo-api"' in e and 'project="demo"' not in e for e in recorded)


def test_plan_is_frozen_and_carries_no_target_options() -> None:
    from mlspec.compiler import plan as p

    fields = {f.name for f in dataclasses.fields(p.Plan)}
    assert "targets" not in fields and {"images", "mlspec_install"} <= fields
    assert all(dataclasses.is_dataclass(c) and c.__dataclass_params__.frozen  # type: ignore[attr-defined]
               for c in vars(p).values() if isinstance(c, type) and dataclasses.is_dataclass(c))


def test_the_event_vocabulary_is_one_table() -> None:
    from typing import get_args

    from mlspec import events

    assert get_args(events.AlertEvent) == events.EVENT_NAMES
    assert get_args(events.RetrainEvent) == events.RETRAIN_EVENTS


def test_cli_import_pulls_no_heavy_module() -> None:
    import subprocess

    code = ("import sys, mlspec.cli; heavy = [m for m in ('pydantic', 'jinja2', 'networkx', 'numpy', 'yaml') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
