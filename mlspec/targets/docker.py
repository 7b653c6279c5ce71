"""The `docker` target: a training image, a serving image and the build context's ignore file.

``docker/Dockerfile.train`` holds the project's code, requirements and mlspec (pipeline
nodes such as ``mlspec gate`` run in it under Kubernetes operators); its default command
is the training command. ``docker/Dockerfile.serve`` holds the code and the trained model
and runs ``serving.run`` (online: ``EXPOSE`` + ``HEALTHCHECK``; batch: the scoring command).
Both are multi-stage (a builder stage installs the requirements into ``/opt/venv``; the
final stage copies it), run as a numeric non-root user and carry OCI labels.

The build context is the spec's folder: ``docker build -f docker/Dockerfile.serve .`` from
the output folder when the spec sits there (the usual case).

Python decides what each image holds (:func:`image_context`); the templates under
``templates/docker/`` only format it, every value through an encoding filter: exec-form
JSON for commands (``docker_argv``), escaped double-quoted words for ``LABEL``/``ENV``
(``docker_quoted``), POSIX shell words in ``RUN`` (``sh``). No spec text is ever written
into a comment, and the file starts with mlspec's fixed header, so no user text can
become a parser directive. Users override the templates with ``--template-dir``.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from mlspec import diagnostics as dx
from mlspec.output.artifacts import Artifact
from mlspec.diagnostics import Diagnostic, Severity, SpecPath
from mlspec.compiler.plan import Node, Plan
from mlspec.language.target_options import ImageOptions
from mlspec.targets import Target
from mlspec.targets.toolkit.texts import node_text_paths, nul_errors

TRAIN_DOCKERFILE = "docker/Dockerfile.train"
SERVE_DOCKERFILE = "docker/Dockerfile.serve"
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


def image_context(plan: Plan, kind: str) -> dict[str, Any]:
    """Everything the Dockerfile template of ``kind`` formats, as plain values; Python decides."""
    env = plan.environment
    if not _IMAGE_WORD.fullmatch(env.base_image):
        raise ValueError(f"base image {env.base_image!r} is not a plain image reference")
    pip_args: list[str] = ["-r", "/tmp/requirements.txt"] if env.requirements else []
    mlspec = plan.mlspec_install if kind == "train" else None
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
        if train is not None and train.command:
            base = dict(env.env)
            ctx["command"] = bash_argv(train.command, [(k, v) for k, v in train.env if base.get(k) != v])
        return ctx
    from mlspec.output.encoders import py

    serving = plan.serving
    assert serving is not None
    ctx["command"] = bash_argv(serving.command)
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

# What never belongs in an image: version control, local environments, caches, credentials,
# and data, models and metrics produced by runs (the serving model is let back in below).
IGNORED = (
    "**/.git", ".github", "**/.venv", "**/venv", "**/__pycache__", "**/*.py[cod]",
    "**/.pytest_cache", "**/.mypy_cache", "**/.ruff_cache", "**/.ipynb_checkpoints",
    "**/node_modules", ".mlspec", "mlruns", "data", "models", "metrics",
    "**/.env", "**/.env.*", "**/*.pem", "**/*.key", "**/.netrc", "**/.aws", "**/.ssh", "**/.docker",
    "**/.dockerignore", "docker",
)


def ignore_literal(path: str) -> str:
    """A .dockerignore pattern matching ``path``: pattern characters escaped, and characters that
    are not printable (U+2028, NEL, ...) written as ``?``, so no editor or tool sees a line break
    inside a pattern (``?`` matches any one character but '/')."""
    escaped = re.sub(r"([\\*?\[\]!#])", r"\\\1", path)
    return "".join(c if c.isprintable() else "?" for c in escaped)


def dockerignore(plan: Plan) -> str:
    lines = ["# Kept out of the build context: source control, local environments, caches,",
             "# credentials, and files the pipeline produces.", *IGNORED]
    model = plan.model_path
    outputs = sorted({o for n in plan.nodes for o in n.outputs} - {model})
    lines += [ignore_literal(o) for o in outputs]
    used = {d for n in plan.nodes for d in n.data}
    repo_data = sorted(d.uri for d in plan.data if d.scheme is None and d.name in used)
    if repo_data:
        lines.append("# Data committed with the project that pipeline nodes read:")
        lines += ["!" + ignore_literal(u) for u in repo_data]
    if model and plan.serving is not None:
        lines.append("# The trained model goes into the serving image:")
        lines.append("!" + ignore_literal(model))
    return "\n".join(lines) + "\n"


def ignore_paths(plan: Plan, dockerfiles: list[str]) -> list[str]:
    """Where the ignore file goes: the context root, or next to each Dockerfile (BuildKit) when
    the context lies outside the output folder."""
    ctx = plan.images.context
    if ctx == ".." or ctx.startswith("../"):
        return [f"{d}.dockerignore" for d in dockerfiles]
    return [posixpath.normpath(posixpath.join(ctx, ".dockerignore"))]


# --------------------------------------------------------------------------- the target


class DockerTarget(Target):
    name = "docker"
    description = "Dockerfiles for training and serving (multi-stage, non-root, OCI labels) and .dockerignore."
    options_model = DockerOptions

    def emit(self, plan: Plan) -> list[Artifact]:
        out = [Artifact(image.dockerfile, render_dockerfile(plan, image.kind, self.template_dirs),
                        self.name, "dockerfile") for image in plan.images.emitted()]
        if out:
            text = dockerignore(plan)
            out += [Artifact(p, text, self.name, "dockerignore") for p in ignore_paths(plan, [a.path for a in out])]
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
