"""The `docker` target: a training image, a serving image and an ignore file for each.

``docker/<project>.train.Dockerfile`` holds the project's code, requirements, mlspec and the data the
pipeline reads from the repository (pipeline nodes such as ``mlspec gate`` run in it under
Kubernetes operators); its default command trains (``mlspec run --until train`` when training
reads files that earlier nodes write). ``docker/<project>.serve.Dockerfile`` holds the code and the
trained model and runs ``serving.run`` (online: ``EXPOSE`` + ``HEALTHCHECK``; batch: the
scoring command). Both are multi-stage (a builder stage installs the requirements into
``/opt/venv``; the final stage copies it), run as a numeric non-root user and carry OCI labels.

The build context is the spec's folder: ``docker build -f docker/churn.serve.Dockerfile .`` from
the output folder when the spec sits there (the usual case). What each image may hold is
its own ``<Dockerfile>.dockerignore`` (BuildKit reads it instead of the context's); the root
``.dockerignore`` serves the legacy builder (:func:`ignore_sections`).

Python decides what each image holds (:func:`image_context`, :func:`ignore_sections`); the
templates under ``templates/docker/`` only format it, every value through an encoding filter:
exec-form JSON for commands (``docker_argv``), escaped double-quoted words for ``LABEL``/``ENV``
(``docker_quoted``), POSIX shell words in ``RUN`` (``sh``), one printable line per ignore
pattern (``dockerignore``). No spec text is ever written into a Dockerfile comment, and the
file starts with mlspec's fixed header, so no user text can become a parser directive. Users
override the templates with ``--template-dir``.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from mlspec import diagnostics as dx
from mlspec.output.artifacts import Artifact
from mlspec.output.encoders import dockerignore_literal
from mlspec.diagnostics import Diagnostic, Severity, SpecPath
from mlspec.compiler.plan import Node, Plan
from mlspec.language.target_options import ImageOptions
from mlspec.targets import Target
from mlspec.targets.toolkit.texts import node_text_paths, nul_errors

VENV = "/opt/venv"
BASH = ["/bin/bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
# Paths that go into COPY as they are: Docker would expand '$' and glob '*?[' there.
COPY_SAFE = re.compile(r"[A-Za-z0-9._+@/-]+")

# The docker target's options are the project's image settings (a language model: the
# compiler decides the Plan's images from them, and every target reads ``plan.images``).
DockerOptions = ImageOptions


# --------------------------------------------------------------------------- Dockerfile context

# What FROM takes as it is: a validated image reference can hold nothing else.
_IMAGE_WORD = re.compile(r"[A-Za-z0-9._:/@+-]+")
# Labels mlspec sets itself; a project label of the same key is an error (see check()).
RESERVED_LABELS = frozenset({
    "org.opencontainers.image.title", "org.opencontainers.image.base.name",
    "org.opencontainers.image.description", "org.opencontainers.image.authors",
    "org.opencontainers.image.source", "dev.mlspec.project", "dev.mlspec.image",
    "dev.mlspec.spec-sha256", "dev.mlspec.model-name",
})


def labels(plan: Plan, kind: str) -> list[tuple[str, str]]:
    """OCI labels, mlspec's own, then the project's labels (in that order)."""
    p = plan.project
    out: list[tuple[str, str]] = [
        ("org.opencontainers.image.title", f"{p.name} {'training' if kind == 'train' else 'serving'}"),
        ("org.opencontainers.image.base.name", plan.environment.base_image),
    ]
    if p.description:
        # A label value is one line; whitespace runs (newlines included) become one space.
        out.append(("org.opencontainers.image.description", " ".join(p.description.split())))
    if p.owners:
        out.append(("org.opencontainers.image.authors", ", ".join(p.owners)))
    if p.repository:
        source = p.repository if re.match(r"^[a-z][a-z0-9+.-]*://", p.repository) else f"https://{p.repository}"
        out.append(("org.opencontainers.image.source", source))
    out += [("dev.mlspec.project", p.name), ("dev.mlspec.image", kind),
            ("dev.mlspec.spec-sha256", plan.spec_sha256)]
    if kind == "serve" and plan.registry is not None:
        out.append(("dev.mlspec.model-name", plan.registry.model_name))
    out += [(k, v) for k, v in p.labels if k not in RESERVED_LABELS]
    return out


def bash_argv(command: str, extra_env: list[tuple[str, str]] | tuple = ()) -> list[str]:
    """Exec-form argv running ``command`` with bash as the pipelines do (errexit, pipefail)."""
    prefix = ["/usr/bin/env", *(f"{k}={v}" for k, v in extra_env)] if extra_env else []
    return [*prefix, *BASH, command]


def _train_node(plan: Plan) -> Node | None:
    return next((n for n in plan.nodes if n.kind == "train"), None)


def _needs_produced_files(plan: Plan, node: Node) -> bool:
    """Whether a node before ``node`` (directly or not) writes files, which no image holds."""
    by_id = {n.id: n for n in plan.nodes}
    seen: set[str] = set()
    stack = list(node.needs)
    while stack:
        current = by_id.get(stack.pop())
        if current is None or current.id in seen:
            continue
        seen.add(current.id)
        if current.outputs:
            return True
        stack += current.needs
    return False


def image_context(plan: Plan, kind: str) -> dict[str, Any]:
    """Everything the Dockerfile template of ``kind`` formats, as plain values; Python decides."""
    env = plan.environment
    if not _IMAGE_WORD.fullmatch(env.base_image):
        raise ValueError(f"base image {env.base_image!r} is not a plain image reference")
    pip_args: list[str] = ["-r", "/tmp/requirements.txt"] if env.requirements else []
    # The serving image needs mlspec only to fetch the production model at start.
    serve_fetches = plan.serving is not None and plan.serving.fetch_production
    mlspec = plan.mlspec_install if kind == "train" or serve_fetches else None
    if mlspec:
        pip_args.append(mlspec)
    ctx: dict[str, Any] = {
        "base_image": env.base_image,
        "requirements": env.requirements,
        "pip_args": pip_args,
        # hadolint DL3013 asks for pinned pip packages; the default pins the generating release,
        # an override without a version (a private index name) says why it is unpinned.
        "mlspec_unpinned": bool(mlspec) and not any(s in mlspec for s in ("==", "@", "://")),
        "labels": labels(plan, kind),
        "env": list(env.env) if kind == "train" else list(plan.serving.env if plan.serving else ()),
        "packages": list(env.system_packages),
        # Debian drops superseded versions from its mirrors, so an invented pin would break
        # the build: mlspec pins exactly what the spec pins (`pkg=version`), and says so.
        "packages_unpinned": any("=" not in p for p in env.system_packages),
        "uid": plan.images.uid,
        "command": None,
    }
    if kind == "train":
        train = _train_node(plan)
        if train is not None and _needs_produced_files(plan, train):
            # What training reads is written by nodes before it, and the image holds none of
            # their outputs: the default command runs those nodes first.
            ctx["command"] = ["mlspec", "run", "--until", "train", "--no-monitoring", "--", plan.spec_file]
        elif train is not None and train.command:
            base = dict(env.env)
            ctx["command"] = bash_argv(plan.command_for(train) or "", [(k, v) for k, v in train.env if base.get(k) != v])
        return ctx
    from mlspec.output.encoders import py

    serving = plan.serving
    assert serving is not None
    ctx["command"] = bash_argv(plan.command_for(serving) or "")
    ctx["port"] = serving.port if serving.mode == "online" else None
    ctx["healthcheck"] = None
    if ctx["port"] is not None and serving.health_path is not None:
        url = f"http://127.0.0.1:{serving.port}{serving.health_path}"
        ctx["healthcheck"] = [f"{VENV}/bin/python", "-c",
                              f"import urllib.request; urllib.request.urlopen({py(url)}, timeout=4)"]
    return ctx


def render_dockerfile(plan: Plan, kind: str, template_dirs: Any = ()) -> str:
    from mlspec.output.templating import render

    return render(f"docker/Dockerfile.{kind}.j2", extra_dirs=template_dirs, **image_context(plan, kind))


# --------------------------------------------------------------------------- .dockerignore

# What no image holds, whatever the project: version control, local environments and caches,
# credentials (Kedro's conf/local, cloud and registry logins, keys, .env files), and experiment
# tracking stores and local databases (mlflow.db, mlruns/). A data source or the served model
# that matches one of these is let back in by a later '!' line (the last match wins).
NEVER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Source control, local environments, caches and build files.", (
        "**/.git", ".github", "**/.venv", "**/venv", "**/__pycache__", "**/*.py[cod]",
        "**/.pytest_cache", "**/.mypy_cache", "**/.ruff_cache", "**/.ipynb_checkpoints",
        "**/node_modules", ".mlspec", "**/.dockerignore", "docker")),
    ("Credentials.", (
        "**/.env", "**/.env.*", "**/*.pem", "**/*.key", "**/*.p12", "**/*.pfx", "**/id_rsa*", "**/id_ed25519*",
        "**/.netrc", "**/.pypirc", "**/.git-credentials", "**/.aws", "**/.ssh", "**/.docker", "**/.kube",
        "**/.gcloud", "**/.azure", "**/conf/local", "**/credentials*.yml", "**/credentials*.yaml",
        "**/credentials*.json", "**/credentials*.toml", "**/secrets*.yml", "**/secrets*.yaml",
        "**/.secrets")),
    ("Experiment tracking stores and local databases.", (
        "**/mlruns", "**/mlartifacts", "**/wandb", "**/mlflow.db", "**/*.db", "**/*.sqlite",
        "**/*.sqlite3", "**/*.duckdb")),
)
# Folders that by convention hold data, models and metrics: out of every image, and the files
# an image needs are let back in one by one.
PRODUCED = ("data", "models", "metrics")


# A spec path as a pattern that matches exactly it.
ignore_literal = dockerignore_literal


_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def context_path(path: str | None) -> str | None:
    """``path`` as a path inside the build context, or None for a URI, an absolute path or a
    path outside the context (no ignore line can name those)."""
    if not path or _URI.match(path) or path.startswith("/"):
        return None
    norm = posixpath.normpath(path)
    if norm in (".", "..") or norm.startswith("../"):
        return None
    return norm


def _paths(paths: Any) -> list[str]:
    return sorted({c for c in map(context_path, set(paths)) if c is not None})


def training_reads(plan: Plan) -> list[str]:
    """Files from the repository the pipeline reads: the relative data sources its nodes use and
    declared inputs, except what a node writes (a step's output, data a fetch command brings)."""
    written = set(_paths(o for n in (*plan.nodes, *plan.monitor_nodes) for o in n.outputs))
    used = {d for n in plan.nodes for d in n.data}
    sources = [d.uri for d in plan.data if d.scheme is None and d.name in used]
    inputs = [i for n in plan.nodes for i in n.inputs]
    return [p for p in _paths([*sources, *inputs]) if p not in written]


def served_model(plan: Plan) -> str | None:
    return context_path(plan.model_path) if plan.serving is not None else None


def ignore_sections(plan: Plan, kind: str) -> list[tuple[str, list[str]]]:
    """The ignore file of ``kind`` ("train", "serve", or "context": the root .dockerignore only
    the legacy builder reads) as (comment, patterns) sections; the last matching line wins.

    serve: code, requirements and the served model: no data, no other output, no live sample.
    train: code, requirements and what the pipeline reads from the repository.
    context: what either image needs (train's list with the served model let back in), so a
    legacy build never sees credentials or databases either."""
    sections: list[tuple[str, list[str]]] = [(c, list(p)) for c, p in NEVER]
    outputs = [o for n in (*plan.nodes, *plan.monitor_nodes) for o in n.outputs]
    outputs += [plan.train_metrics_path, plan.eval_metrics_path]
    if plan.monitoring is not None and plan.monitoring.performance is not None:
        outputs.append(plan.monitoring.performance.metrics_path)
    data = [d.uri for d in plan.data if d.scheme is None]
    if plan.llm is not None:
        by_name = {d.name: d.uri for d in plan.data}
        data += [by_name.get(e.dataset, "") for e in plan.llm.evals]
    model = served_model(plan)
    sections.append(("Data (declared sources, live samples included) and what the pipeline and "
                     "monitoring write.", [*PRODUCED, *(ignore_literal(p) for p in _paths([*data, *outputs]))]))
    if kind != "serve":
        reads = training_reads(plan)
        if reads:
            sections.append(("Data and files from the repository the pipeline reads.",
                             ["!" + ignore_literal(p) for p in reads]))
    if kind != "train" and model is not None:
        sections.append(("The model the serving image serves.", ["!" + ignore_literal(model)]))
    return sections


def dockerignore(plan: Plan, kind: str, template_dirs: Any = ()) -> str:
    from mlspec.output.templating import render

    return render("docker/dockerignore.j2", extra_dirs=template_dirs, sections=ignore_sections(plan, kind))


def ignore_paths(plan: Plan, images: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(path, kind) of every ignore file: one next to each Dockerfile (BuildKit reads
    ``<Dockerfile>.dockerignore`` before the context's own), and, when the build context lies
    inside the output folder, a root ``.dockerignore`` for the legacy builder."""
    out = [(f"{dockerfile}.dockerignore", kind) for dockerfile, kind in images]
    ctx = plan.images.context
    if not (ctx == ".." or ctx.startswith("../")):
        out.append((posixpath.normpath(posixpath.join(ctx, ".dockerignore")), "context"))
    return out


# --------------------------------------------------------------------------- the target


class DockerTarget(Target):
    name = "docker"
    description = ("Dockerfiles for training and serving (multi-stage, non-root, OCI labels) and an ignore file "
                   "for each image.")
    options_model = DockerOptions

    def emit(self, plan: Plan) -> list[Artifact]:
        out = [Artifact(image.dockerfile, render_dockerfile(plan, image.kind, self.template_dirs),
                        self.name, "dockerfile") for image in plan.images.emitted()]
        if out:
            images = [(image.dockerfile, image.kind) for image in plan.images.emitted()]
            out += [Artifact(path, dockerignore(plan, kind, self.template_dirs), self.name, "dockerignore")
                    for path, kind in ignore_paths(plan, images)]
        return out

    def check(self, plan: Plan) -> list[Diagnostic]:
        train, serve = plan.images.train.emitted, plan.images.serve.emitted
        diags: list[Diagnostic] = []
        if not (train or serve):
            return diags

        def cannot(message: str, path: SpecPath, hint: str | None = None) -> None:
            diags.append(Diagnostic(dx.TARGET_CANNOT_EXPRESS, f"docker: {message}", path=path, hint=hint))

        env = plan.environment
        image_name = env.base_image.split("@", 1)[0]
        if "alpine" in image_name:
            cannot(f"the images install packages with apt-get and run commands with bash, which "
                   f"{env.base_image!r} (Alpine) lacks", ("environment", "base_image"),
                   hint="use a Debian-based image such as 'python:3.11-slim'")
        if env.requirements and not COPY_SAFE.fullmatch(env.requirements):
            cannot(f"the requirements file {env.requirements!r} cannot be copied as it is (Docker reads "
                   "'$', '*', '?', '[' and spaces in COPY)", ("environment", "requirements"),
                   hint="rename it to letters, digits and . _ + @ / -")
        # A Dockerfile value is one line: ENV cannot hold a line break (the pipelines can).
        shared = dict(env.env)
        multiline = {k: ("environment", "env", k) for k, v in env.env if "\n" in v or "\r" in v}
        if serve and plan.serving is not None:
            multiline.update({k: ("serving", "env", k) for k, v in plan.serving.env
                              if ("\n" in v or "\r" in v) and shared.get(k) != v})
        for key, path in sorted(multiline.items()):
            cannot(f"environment variable {key!r} holds a line break, which a Dockerfile ENV cannot",
                   path, hint="keep environment values on one line")
        texts: list[tuple[SpecPath, str]] = [(("environment", "env", k), v) for k, v in env.env]
        texts += [(("project", "description"), plan.project.description or ""),
                  (("project", "repository"), plan.project.repository or "")]
        train_node = _train_node(plan)
        if train and train_node is not None:
            texts += node_text_paths(plan, train_node)
        if serve and plan.serving is not None:
            texts += [(("serving", "run"), plan.serving.command)]
            texts += [(("serving", "env", k), v) for k, v in plan.serving.env if dict(env.env).get(k) != v]
        diags += nul_errors(texts, "docker")
        if serve and plan.serving is not None and plan.serving.mode == "online" and plan.serving.port is None:
            cannot("online serving needs a port to EXPOSE and health-check", ("serving", "port"))
        if plan.project.labels:
            for key in sorted({k for k, _ in plan.project.labels} & RESERVED_LABELS):
                cannot(f"label {key!r} is set by mlspec itself", ("project", "labels", key),
                       hint="rename the label")
        if not env.base_image_pinned and plan.governance.risk_level == "high":
            diags.append(Diagnostic(
                dx.UNPINNED_BASE_IMAGE,
                f"docker: base image {env.base_image!r} is not pinned by digest (risk_level: high)",
                severity=Severity.WARNING, path=("environment", "base_image"),
                hint="pin it as 'image:tag@sha256:<digest>' (docker buildx imagetools inspect IMAGE)"))
        return diags


__all__ = ["DockerOptions", "DockerTarget", "dockerignore", "image_context"]
