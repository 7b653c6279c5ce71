"""The docker target: Dockerfiles read back with moby's own parser (the `dockerfile` package).

Assertions are about meaning: stages, the user a container runs as, exec-form commands,
EXPOSE/HEALTHCHECK for online serving, labels, what the build context lets in, and the
diagnostics for what the target cannot express. hadolint checks every example.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import shlex
import tempfile
from pathlib import Path

import dockerfile
import pytest

from mlspec.compiler.plan import dockerfile_path
from mlspec import diagnostics as dx
from mlspec.api import check_project
from mlspec.diagnostics import Severity
from mlspec.targets import available_targets
from mlspec.targets import docker as dk
from tests import validators as V
from tests.compiling import beside, example_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlproject.yaml"))
MINE = ("github_actions", "docker")
# Specs are written to folders under one scratch directory, removed when the process exits.
_SPECS = tempfile.TemporaryDirectory(prefix="mlspec-docker-")


# --------------------------------------------------------------------------- helpers


def moved(plan, spec_dir: str):
    """The plan as compiled from an output folder where the spec sits at ``spec_dir``."""
    return dataclasses.replace(plan, spec_dir=spec_dir, images=dataclasses.replace(plan.images, context=spec_dir))


def installed_targets_only(text: str) -> str:
    """Drop one-line ``targets:`` entries naming targets that are not installed (yet)."""
    installed = set(available_targets())
    out, in_targets = [], False
    for line in text.splitlines(keepends=True):
        if re.match(r"^\S", line):
            in_targets = line.startswith("targets:")
        elif in_targets:
            m = re.match(r"^  ([a-z_][a-z0-9_]*):", line)
            if m and m.group(1) not in installed:
                continue
        out.append(line)
    return "".join(out)


def checked(text: str, targets: tuple[str, ...] = ("docker",)):
    folder = Path(tempfile.mkdtemp(dir=_SPECS.name))
    beside(text, folder)
    path = folder / "mlproject.yaml"
    path.write_text(installed_targets_only(text), encoding="utf-8")
    return check_project(path, display_name="mlproject.yaml", targets=targets, out_dir=folder)


def plan_of(text: str, targets: tuple[str, ...] = ("docker",)):
    result = checked(text, targets)
    assert result.ok, [d.to_json() for d in result.diagnostics if d.is_error]
    return result.plan


def files(plan, template_dirs=()) -> dict[str, str]:
    return {a.path: a.render(plan.source) for a in dk.DockerTarget(None, template_dirs).emit(plan)}


def instructions(text: str) -> list[dockerfile.Command]:
    return list(dockerfile.parse_string(text))


def unquote(word: str) -> str:
    """A docker_quoted word as BuildKit reads it: ``\\"``, ``\\\\`` and ``\\$`` unescaped."""
    assert word[0] == word[-1] == '"', word
    return re.sub(r'\\(["\\$])', r"\1", word[1:-1])


def labels(cmds: list[dockerfile.Command]) -> dict[str, str]:
    out: dict[str, str] = {}
    for c in cmds:
        if c.cmd == "LABEL":
            for key, value in zip(c.value[::2], c.value[1::2]):
                out[unquote(key)] = unquote(value)
    return out


def final_stage(cmds: list[dockerfile.Command]) -> list[dockerfile.Command]:
    starts = [i for i, c in enumerate(cmds) if c.cmd == "FROM"]
    return cmds[starts[-1]:]


SPEC_HEAD = """\
mlspec: 1
project: {name: demo}
environment:
  requirements: requirements.txt
"""
TRAIN_ONLY = """\
training:
  run: python train.py
  outputs: {model: models/model.joblib}
"""
ONLINE = "serving: {mode: online, run: python serve.py, port: 8000, health_path: /ready, slo: {error_rate: 0.01}}\n"


def spec(body: str = TRAIN_ONLY, head: str = SPEC_HEAD, targets: str = "") -> str:
    return head + body + (f"targets:\n{targets}" if targets else "")


@pytest.fixture(scope="module")
def reference():
    return plan_of(example_text("reference"))


# --------------------------------------------------------------------------- the serving image


def test_serving_image_structure(reference) -> None:
    cmds = instructions(files(reference)[dockerfile_path("churn", "serve")])
    assert [c.cmd for c in cmds if c.cmd == "FROM"] == ["FROM", "FROM"]
    assert cmds[0].value == ("python:3.11-slim", "AS", "builder")
    final = final_stage(cmds)
    assert final[0].value == ("python:3.11-slim",)
    copies = [c for c in final if c.cmd == "COPY"]
    assert copies[0].flags == ("--from=builder",) and copies[0].value == ("/opt/venv", "/opt/venv")
    # the project's files are root-owned in the serving image: the server only reads them
    assert copies[1].flags == () and copies[1].value == (".", "/app")
    assert not any(c.cmd in ("ADD", "ARG", "ONBUILD", "VOLUME") for c in cmds)


def test_runs_as_a_numeric_non_root_user_until_the_end(reference) -> None:
    for name, text in files(reference).items():
        if not name.endswith(".Dockerfile"):
            continue
        final = final_stage(instructions(text))
        users = [i for i, c in enumerate(final) if c.cmd == "USER"]
        cmd_at = max(i for i, c in enumerate(final) if c.cmd == "CMD")
        assert users and users[-1] < cmd_at, name
        uid, _, gid = final[users[-1]].value[0].partition(":")
        assert uid.isdigit() and int(uid) == 10001 and gid == uid, name
        # nothing after the last USER runs as someone else
        assert not any(c.cmd == "USER" for c in final[users[-1] + 1:])


def test_online_serving_exposes_and_health_checks(reference) -> None:
    final = final_stage(instructions(files(reference)[dockerfile_path("churn", "serve")]))
    by = {c.cmd: c for c in final}
    assert by["EXPOSE"].value == ("8080",)
    hc = by["HEALTHCHECK"]
    assert hc.json and hc.value[0] == "CMD"
    exe, flag, code = hc.value[1:]
    assert (exe, flag) == ("/opt/venv/bin/python", "-c")
    tree = ast.parse(code)  # the probe is valid Python that opens the health URL
    urls = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert urls == ["http://127.0.0.1:8080/healthz"]
    cmd = by["CMD"]
    assert cmd.json and list(cmd.value) == [*dk.BASH, reference.serving.command]


def test_batch_serving_runs_the_scoring_command_without_a_port() -> None:
    plan = plan_of(spec(TRAIN_ONLY + "serving: {mode: batch, run: python -m demo.score --date \"$(date +%F)\","
                                     " schedule: '0 2 * * *'}\n"))
    final = final_stage(instructions(files(plan)[dockerfile_path("demo", "serve")]))
    kinds = [c.cmd for c in final]
    assert "EXPOSE" not in kinds and "HEALTHCHECK" not in kinds
    assert final[-1].cmd == "CMD" and final[-1].value[-1] == 'python -m demo.score --date "$(date +%F)"'


def test_labels_carry_oci_metadata_the_spec_hash_and_project_labels(reference) -> None:
    got = labels(instructions(files(reference)[dockerfile_path("churn", "serve")]))
    assert got["org.opencontainers.image.title"] == "churn serving"
    assert got["org.opencontainers.image.description"] == reference.project.description
    assert got["org.opencontainers.image.source"] == "https://github.com/example/churn"
    assert got["org.opencontainers.image.authors"] == "growth-ml@example.com"
    assert got["org.opencontainers.image.base.name"] == "python:3.11-slim"
    assert got["dev.mlspec.spec-sha256"] == reference.spec_sha256
    assert got["dev.mlspec.model-name"] == "churn-classifier"
    assert got["team"] == "growth"


def test_environment_and_system_packages(reference) -> None:
    final = final_stage(instructions(files(reference)[dockerfile_path("churn", "serve")]))
    envs = [c for c in final if c.cmd == "ENV"]
    assert [(c.value[0], unquote(c.value[1])) for c in envs[1:]] == [("MLFLOW_TRACKING_URI", "http://mlflow:5000")]
    (apt,) = [c for c in final if c.cmd == "RUN" and "apt-get" in c.value[0]]
    script = apt.value[0]
    assert "apt-get install -y --no-install-recommends libgomp1" in script
    assert "rm -rf /var/lib/apt/lists/*" in script and "useradd --system --uid 10001" in script
    assert sum(c.cmd == "RUN" for c in final) == 1  # one layer for packages and the user


# --------------------------------------------------------------------------- the training image


def test_training_image_runs_training_with_its_own_environment(reference) -> None:
    # the reference trains on what a step writes, which no image holds: the steps run first
    cmds = instructions(files(reference)[dockerfile_path("churn", "train")])
    cmd = cmds[-1]
    assert cmd.cmd == "CMD" and cmd.json
    assert list(cmd.value) == ["mlspec", "run", "--until", "train", "--no-monitoring", "--", "mlproject.yaml"]
    # training alone (no step writes what it reads) runs its command with its own environment
    alone = plan_of(spec("training:\n  run: python train.py\n  seed: 42\n  outputs: {model: models/m.joblib}\n"))
    cmd = instructions(files(alone)[dockerfile_path("demo", "train")])[-1]
    assert list(cmd.value) == ["/usr/bin/env", "MLSPEC_SEED=42", *dk.BASH, "python train.py"]
    builder_run = next(c for c in cmds if c.cmd == "RUN")
    assert builder_run.value[0].endswith(f"-r /tmp/requirements.txt {shlex.quote(reference.mlspec_install)}")
    # training writes its outputs under /app, so the app folder is the user's
    copy_app = [c for c in final_stage(cmds) if c.cmd == "COPY" and c.value == (".", "/app")]
    assert copy_app[0].flags == ("--chown=10001:10001",)
    assert labels(cmds)["dev.mlspec.image"] == "train"


def test_minimal_spec_gets_a_training_image_only() -> None:
    plan = plan_of(example_text("minimal"))
    out = files(plan)
    assert sorted(out) == [".dockerignore", dockerfile_path("minimal", "train"),
                           f"{dockerfile_path('minimal', 'train')}.dockerignore"]
    cmds = instructions(out[dockerfile_path("minimal", "train")])
    assert not any(c.cmd == "COPY" and c.json for c in cmds)  # no requirements file to copy
    assert list(cmds[-1].value) == [*dk.BASH, "python train.py"]


def test_mlflow_registry_adds_the_mlflow_extra() -> None:
    plan = plan_of(spec(TRAIN_ONLY + "registry: {backend: mlflow, uri: 'http://mlflow:5000'}\n"))
    assert plan.mlspec_install.split("[")[1].startswith("mlflow,runtime]")
    assert shlex.quote(plan.mlspec_install) in files(plan)[dockerfile_path("demo", "train")]


@pytest.mark.parametrize(("packages", "pragma"), [("[libgomp1]", True), ("[libgomp1=12.2.0-14, curl=7.88.1-10]", False)])
def test_apt_pin_pragma_only_for_unpinned_packages(packages: str, pragma: bool) -> None:
    head = SPEC_HEAD + f"  system_packages: {packages}\n"
    text = files(plan_of(spec(head=head)))[dockerfile_path("demo", "train")]
    assert ("# hadolint ignore=DL3008" in text) is pragma


def test_pinned_mlspec_needs_no_pragma() -> None:
    text = files(plan_of(spec(targets="  docker: {mlspec_install: 'mlspec[runtime]==0.4.0', uid: 20000}\n")))
    train = text[dockerfile_path("demo", "train")]
    assert "DL3013" not in train and "'mlspec[runtime]==0.4.0'" in train
    assert "USER 20000:20000" in train


def test_images_can_be_switched_off() -> None:
    plan = plan_of(spec(TRAIN_ONLY + ONLINE, targets="  docker: {train_image: false}\n"))
    assert sorted(files(plan)) == [".dockerignore", dockerfile_path("demo", "serve"), f"{dockerfile_path('demo', 'serve')}.dockerignore"]


# --------------------------------------------------------------------------- .dockerignore


def patterns(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln and not ln.startswith("#")]


def test_each_image_has_its_own_ignore_file(reference) -> None:
    out = files(reference)
    serve = patterns(out[f"{dockerfile_path('churn', 'serve')}.dockerignore"])
    train = patterns(out[f"{dockerfile_path('churn', 'train')}.dockerignore"])
    root = patterns(out[".dockerignore"])
    for lines in (serve, train, root):
        for pattern in ("**/.git", "data", "models", "**/.venv", "**/.env", "**/*.pem", ".mlspec", "**/conf/local",
                        "**/credentials*.yml", "**/mlflow.db", "**/*.db", "**/mlruns"):
            assert pattern in lines
        assert "data/prepared.parquet" in lines and "metrics/eval.json" in lines
        assert "evals/questions.jsonl" in lines  # the llm eval set is data: out by default
    assert serve[-1] == "!models/model.joblib" and [ln for ln in serve if ln.startswith("!")] == [serve[-1]]
    # The eval node runs in the training image and reads the eval set; every other source is in S3.
    assert [ln for ln in train if ln.startswith("!")] == ["!evals/questions.jsonl", "!prompts/answer.md",
                                                          "!prompts/rubric.md"]
    assert root[-1] == "!models/model.joblib" and "!evals/questions.jsonl" in root


def test_repository_data_goes_into_the_training_image_only() -> None:
    text = ("data:\n  rows: {uri: data/rows.csv}\n  live: {uri: data/live.csv, role: live}\n"
            "training:\n  run: python train.py\n  needs: [data.rows]\n  outputs: {model: data/m.pkl}\n" + ONLINE)
    out = files(plan_of(spec(text)))
    train = patterns(out[f"{dockerfile_path('demo', 'train')}.dockerignore"])
    serve = patterns(out[f"{dockerfile_path('demo', 'serve')}.dockerignore"])
    assert "data/live.csv" in train and "!data/rows.csv" in train and "!data/live.csv" not in train
    assert "!data/rows.csv" not in serve and serve[-1] == "!data/m.pkl"


def test_without_serving_the_model_stays_out() -> None:
    for text in files(plan_of(example_text("minimal"))).values():
        assert "!" not in text.replace("# ", "")


def test_ignore_patterns_escape_pattern_characters() -> None:
    assert dk.ignore_literal("out/a*b?[1].csv") == r"out/a\*b\?\[1\].csv"
    assert dk.ignore_literal("#notes") == r"\#notes" and dk.ignore_literal("!x") == r"\!x"
    plan = plan_of(spec("training:\n  run: python t.py\n  outputs: {model: 'models/m [v1].bin'}\n" + ONLINE))
    assert files(plan)[f"{dockerfile_path('demo', 'serve')}.dockerignore"].splitlines()[-1] == r"!models/m \[v1\].bin"


def test_ignore_files_follow_the_build_context(reference) -> None:
    per_image = [f"{dockerfile_path('churn', 'serve')}.dockerignore", f"{dockerfile_path('churn', 'train')}.dockerignore"]
    assert sorted(p for p in files(reference) if "ignore" in p) == [".dockerignore", *per_image]
    nested = moved(reference, "ml/churn")
    assert "ml/churn/.dockerignore" in files(nested)
    # outside the output folder mlspec writes no file into the context: BuildKit's files only
    outside = moved(reference, "../churn")
    assert sorted(p for p in files(outside) if "ignore" in p) == per_image


# --------------------------------------------------------------------------- check()


def diag_codes(result) -> list[tuple[str, str, Severity]]:
    return [(d.code, d.dotted_path, d.severity) for d in result.diagnostics if d.code.startswith("MS4")]


def test_unpinned_base_image_warns_only_at_high_risk() -> None:
    high = "governance: {risk_level: high}\n"
    assert diag_codes(checked(spec(TRAIN_ONLY + high))) == [
        (dx.UNPINNED_BASE_IMAGE, "environment.base_image", Severity.WARNING)]
    pinned = SPEC_HEAD + "  base_image: python:3.11-slim@sha256:" + "a" * 64 + "\n"
    result = checked(spec(TRAIN_ONLY + high, head=pinned))
    assert diag_codes(result) == [] and result.ok
    assert "FROM python:3.11-slim@sha256:" + "a" * 64 in files(result.plan)[dockerfile_path("demo", "train")]
    assert diag_codes(checked(spec(TRAIN_ONLY))) == []


@pytest.mark.parametrize(("head", "body", "path"), [
    (SPEC_HEAD + "  base_image: python:3.11-alpine\n", TRAIN_ONLY, "environment.base_image"),
    (SPEC_HEAD.replace("requirements.txt", "'my requirements.txt'"), TRAIN_ONLY, "environment.requirements"),
    (SPEC_HEAD.replace("requirements.txt", "req$HOME.txt"), TRAIN_ONLY, "environment.requirements"),
    (SPEC_HEAD + '  env: {BANNER: "line one\\nline two"}\n', TRAIN_ONLY, "environment.env.BANNER"),
    (SPEC_HEAD, TRAIN_ONLY + ONLINE.replace("slo:", 'env: {MOTD: "a\\nb"}, slo:'), "serving.env.MOTD"),
    ("mlspec: 1\nproject: {name: demo, labels: {dev.mlspec.project: x}}\n", TRAIN_ONLY, "project.labels['dev.mlspec.project']"),
])
def test_what_a_dockerfile_cannot_express_is_an_error(head: str, body: str, path: str) -> None:
    result = checked(spec(body, head=head))
    assert (dx.TARGET_CANNOT_EXPRESS, path, Severity.ERROR) in diag_codes(result)
    assert not result.ok


def test_nul_in_text_is_reported_not_crashed_on(reference) -> None:
    """The loader refuses NUL; the target still reports it (it could not encode it) if a Plan has one."""
    train = next(n for n in reference.nodes if n.kind == "train")
    bad_node = dataclasses.replace(train, command="python t.py \0x")
    plan = dataclasses.replace(reference, nodes=tuple(bad_node if n is train else n for n in reference.nodes))
    diags = dk.DockerTarget().check(plan)
    assert [(d.code, d.dotted_path) for d in diags if d.is_error] == [(dx.TARGET_CANNOT_EXPRESS, "training.run")]


def test_disabled_images_are_not_checked() -> None:
    head = SPEC_HEAD + "  base_image: python:3.11-alpine\n"
    result = checked(spec(head=head, targets="  docker: {train_image: false}\n"))
    assert diag_codes(result) == [] and files(result.plan) == {}


# --------------------------------------------------------------------------- templates and determinism


def test_a_template_dir_overrides_an_image(reference, tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "Dockerfile.serve.j2").write_text(
        '{% extends "docker/base.Dockerfile.j2" %}\n'
        "{% block command %}\n"
        "STOPSIGNAL SIGINT\n"
        "CMD {{ command|docker_argv }}\n"
        "{% endblock %}\n", encoding="utf-8")
    text = files(reference, template_dirs=[tmp_path])[dockerfile_path("churn", "serve")]
    final = final_stage(instructions(text))
    assert [c.cmd for c in final][-3:] == ["USER", "STOPSIGNAL", "CMD"]
    assert list(final[-1].value) == [*dk.BASH, reference.serving.command]
    # the rest of the image is the built-in one
    def stages(t: str) -> str:  # from the first FROM (the header hash and intro differ) to the command
        return t[t.index("FROM "):].split("STOPSIGNAL")[0].split("EXPOSE")[0]

    assert stages(text) == stages(files(reference)[dockerfile_path("churn", "serve")])


def test_output_is_deterministic(reference) -> None:
    assert files(reference) == files(plan_of(example_text("reference")))


def test_images_are_named_after_the_registry(reference) -> None:
    assert reference.images.serve.ref == "ghcr.io/example/churn:latest"
    assert reference.images.train.ref == "ghcr.io/example/churn-train:latest"
    assert reference.images.serve.registry_host == "ghcr.io"
    minimal = plan_of(example_text("minimal")).images
    assert (minimal.train.name, minimal.train.pushed, minimal.train.registry_host) == ("minimal-train", False, None)
    image = dataclasses.replace(reference.images.serve, name="localhost:5000/x")
    assert image.registry_host == "localhost:5000"
    assert dataclasses.replace(image, name="example/churn").registry_host == "docker.io"


# --------------------------------------------------------------------------- hadolint


def _hadolint_all(plan, tmp_path: Path) -> list[str]:
    paths = []
    for name, text in files(plan).items():
        if name.startswith("docker/") and name.endswith(".Dockerfile"):
            p = tmp_path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text, encoding="utf-8")
            paths.append(p)
    assert paths
    return V.hadolint(paths)


@pytest.mark.validator
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_dockerfiles_pass_hadolint(example: str, tmp_path: Path) -> None:
    assert _hadolint_all(plan_of(example_text(example)), tmp_path) == []


@pytest.mark.validator
@pytest.mark.parametrize("variant", [
    spec(TRAIN_ONLY + "serving: {mode: batch, run: python -m demo.score, schedule: '0 2 * * *'}\n"),
    spec(head="mlspec: 1\nproject: {name: demo}\nenvironment:\n  system_packages: [libgomp1=12.2.0-14]\n"
              "  base_image: python:3.12-slim@sha256:" + "b" * 64 + "\n"),
    spec(TRAIN_ONLY + ONLINE, targets="  docker: {mlspec_install: 'mlspec[runtime]==0.4.0', uid: 20000}\n"),
    spec(TRAIN_ONLY + "  env: {EXTRA: 'x'}\n" + ONLINE.replace("slo:", "env: {WORKERS: '4'}, slo:")),
    spec(TRAIN_ONLY + ONLINE.replace("health_path: /ready", "health_path: null")),
], ids=["batch", "pinned", "options", "env", "no-health-path"])
def test_variants_pass_hadolint(variant: str, tmp_path: Path) -> None:
    assert _hadolint_all(plan_of(variant), tmp_path) == []


def test_no_health_path_means_no_healthcheck() -> None:
    text = files(plan_of(spec(TRAIN_ONLY + ONLINE.replace("health_path: /ready", "health_path: null"))))[dockerfile_path("demo", "serve")]
    assert "EXPOSE 8000" in text and "HEALTHCHECK" not in text
