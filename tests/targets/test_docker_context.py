"""What reaches each image: the build context as Docker computes it from the generated ignore
files, on a realistic project tree (the files every example names plus decoys a real project
has: raw data, Kedro's conf/local credentials, an MLflow database, other models, .env files,
metrics and the live sample).

Patterns are parsed and globbed by the Docker SDK (``docker.utils.build.Pattern``: Go's
path cleaning, ``**``, ``!``), and the file is read as the SDK's build reads it (blank lines and
``#`` comments dropped). The walk is moby's ``MatchesOrParentMatches``, which BuildKit applies:
a pattern matches a path when it matches the path or one of its parent folders, and the last
matching pattern decides. (The SDK's own ``exclude_paths`` walk only compares a pattern with
the parent folder of the same depth, so it lets ``.docker/config.json`` through ``**/.docker``,
which BuildKit keeps out; ``test_the_matcher_has_dockers_semantics`` pins the cases where the
two agree.) BuildKit reads ``<Dockerfile>.dockerignore`` before the context's
``.dockerignore``, so each image is checked with its own file, and the root file (the legacy
builder's) separately.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

import pytest

from docker.utils.build import Pattern, exclude_paths

from mlspec.api import check_project
from mlspec.targets import docker as dk
from tests.compiling import beside, example_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlproject.yaml"))

# A Kedro-style project: repository data under data/0N_*, a live sample, batch scoring next to
# online serving is not needed here; what matters is relative sources of every role.
KEDRO = """\
mlspec: 1
project: {name: kedro-like}
environment: {requirements: src/requirements.txt}
data:
  companies: {uri: data/01_raw/companies.csv, role: training}
  reviews: {uri: data/01_raw/reviews/, format: csv, role: training}
  unused: {uri: data/01_raw/unused.csv, role: other}
  recent: {uri: data/08_reporting/recent.csv, role: live}
steps:
  features:
    run: python -m kedro_like.features
    needs: [data.companies, data.reviews]
    inputs: [conf/base/parameters.yml]
    outputs: [data/04_feature/features.parquet]
training:
  run: python -m kedro_like.train
  needs: [steps.features]
  outputs: {model: data/06_models/regressor.pkl, metrics: data/09_tracking/train.json}
validation:
  run: python -m kedro_like.evaluate
  metrics: data/09_tracking/eval.json
  gates: [{metric: r2, min: 0.5}]
serving: {mode: online, run: python -m kedro_like.serve, port: 8000}
monitoring:
  reference: data.companies
  current: data.recent
  drift: [{columns: [price], method: psi, threshold: 0.2}]
"""

CODE = ("train.py", "pkg/__init__.py", "pkg/model.py", "requirements.txt", "src/requirements.txt",
        "conf/base/catalog.yml", "conf/base/parameters.yml", "README.md")
CREDENTIALS = ("conf/local/credentials.yml", "src/pkg/conf/local/credentials.yml", "credentials.yml",
               "config/credentials.yaml", ".env", ".env.production", "secrets/tls.key", "secrets/cert.pem",
               ".aws/credentials", ".ssh/id_rsa", ".netrc", ".docker/config.json", ".kube/config")
DATABASES = ("mlflow.db", "mlruns/0/meta.yaml", "mlruns/0/abc/artifacts/model.pkl", "notebooks/cache.sqlite",
             "warehouse.duckdb", "mlartifacts/1/model.pkl")
DECOY_DATA = ("data/raw/extra.csv", "data/01_raw/extra.csv", "data/08_reporting/recent.csv")
DECOY_OUTPUTS = ("models/other.pkl", "metrics/live.json", "metrics/eval.json")


def plan_for(text: str, folder: Path):
    beside(text, folder)
    spec = folder / "mlproject.yaml"
    spec.write_text(text, encoding="utf-8")
    result = check_project(spec, display_name="mlproject.yaml", targets=("docker",), out_dir=folder)
    assert result.ok, [d.to_json() for d in result.diagnostics if d.is_error]
    return result.plan


def touch(root: Path, rel: str) -> None:
    path = root / (rel + "part-0.csv" if rel.endswith("/") else rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x\n", encoding="utf-8")


def local(path: str | None) -> str | None:
    return dk.context_path(path)


def project_tree(plan, root: Path) -> None:
    """Every file the spec names, the decoys, and the generated Docker files."""
    named = [d.uri + ("" if d.uri.endswith("/") or "." in posixpath.basename(d.uri) else "/")
             for d in plan.data if d.scheme is None]
    named += [o for n in (*plan.nodes, *plan.monitor_nodes) for o in (*n.outputs, *n.inputs)]
    named += [plan.model_path or "", plan.train_metrics_path or "", plan.eval_metrics_path or ""]
    for rel in {*CODE, *CREDENTIALS, *DATABASES, *DECOY_DATA, *DECOY_OUTPUTS,
                *(p for p in named if local(p.rstrip("/")) and p)}:
        touch(root, rel)
    for artifact in dk.DockerTarget(None, ()).emit(plan):
        path = root / artifact.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(artifact.render(plan.source), encoding="utf-8")


def excluded(path: str, patterns: list[Pattern]) -> bool:
    """moby's MatchesOrParentMatches: the last pattern matching the path or a parent decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i + 1]) for i in range(len(parts))]
    result = False
    for pattern in patterns:
        if any(pattern.match(p) for p in prefixes):
            result = not pattern.exclusion
    return result


def buildkit_context(root: Path, patterns: list[str]) -> set[str]:
    """The files of ``root`` a build sends with these ignore patterns (the Dockerfile is sent
    apart, as BuildKit does)."""
    parsed = [p for p in (Pattern(line) for line in patterns) if p.dirs]
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    return {f for f in files if not excluded(f, parsed)}


def context(root: Path, ignore_file: str) -> set[str]:
    """The files Docker sends for a build with this ignore file (read as the SDK's build reads it)."""
    lines = (root / ignore_file).read_text(encoding="utf-8").splitlines()
    patterns = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    return buildkit_context(root, patterns)


def under(files: set[str], path: str) -> set[str]:
    path = path.rstrip("/")
    return {f for f in files if f == path or f.startswith(path + "/")}


def cases() -> list[tuple[str, str]]:
    return [(name, example_text(name)) for name in EXAMPLES] + [("kedro-like", KEDRO)]


@pytest.fixture(params=cases(), ids=lambda c: c[0])
def project(request, tmp_path):
    _, text = request.param
    root = tmp_path / "project"
    root.mkdir()
    plan = plan_for(text, root)
    project_tree(plan, root)
    return plan, root


def secret_free(files: set[str]) -> None:
    for path in (*CREDENTIALS, *DATABASES):
        assert not under(files, path), path


def test_the_serving_image_holds_code_and_the_served_model_only(project) -> None:
    plan, root = project
    if not plan.images.serve.emitted:
        pytest.skip("no serving image")
    files = context(root, f"{plan.images.serve.dockerfile}.dockerignore")
    model = local(plan.model_path)
    assert model and under(files, model)
    others = files - under(files, model)
    secret_free(others)
    for path in ("data", "models", "metrics", *DECOY_OUTPUTS):
        assert not under(others, path), path
    for d in plan.data:
        if d.scheme is None:
            assert not under(others, d.uri), d.uri
    outputs = {o for n in (*plan.nodes, *plan.monitor_nodes) for o in n.outputs} | {plan.eval_metrics_path}
    for o in outputs:
        if local(o):
            assert not under(others, o), o
    assert {"train.py", "pkg/model.py", "requirements.txt", "conf/base/catalog.yml", "mlproject.yaml"} <= files


def test_the_training_image_holds_what_training_reads_and_no_credentials(project) -> None:
    plan, root = project
    if not plan.images.train.emitted:
        pytest.skip("no training image")
    files = context(root, f"{plan.images.train.dockerfile}.dockerignore")
    secret_free(files)
    used = {name for n in plan.nodes for name in n.data}
    written = {local(o) for m in (*plan.nodes, *plan.monitor_nodes) for o in m.outputs}
    reads = [d.uri for d in plan.data if d.scheme is None and d.name in used]
    reads += [i for n in plan.nodes for i in n.inputs]
    reads = [r for r in reads if local(r) and local(r) not in written]
    for path in reads:
        assert under(files, path), path
    # nothing the pipeline or monitoring writes, no other model, no live sample
    for path in ("models", "metrics", "data/raw/extra.csv"):
        assert not under(files, path), path
    for o in {o for n in (*plan.nodes, *plan.monitor_nodes) for o in n.outputs}:
        if local(o):
            assert not under(files, o), o
    if plan.monitoring is not None and plan.monitoring.current:
        live = next(d for d in plan.data if d.name == plan.monitoring.current)
        if live.scheme is None and live.name not in used:
            assert not under(files, live.uri)
    assert {"train.py", "pkg/model.py", "mlproject.yaml"} <= files


def test_the_legacy_builders_context_holds_no_credentials_or_databases(project) -> None:
    plan, root = project
    files = context(root, ".dockerignore")
    secret_free(files)
    assert not under(files, "models/other.pkl") and not under(files, "metrics")


def test_the_matcher_has_dockers_semantics(tmp_path) -> None:
    """The cases Docker's documentation gives: the last match wins, '!' lets a file back into an
    excluded folder, '**' crosses folders, a folder pattern excludes what is under it."""
    for rel in ("a/keep.md", "a/drop.md", "x/y/z.pem", "z.pem", "docs/b.txt", "data/d.csv"):
        touch(tmp_path, rel)
    for patterns, want in ((["a", "!a/keep.md", "**/*.pem", "data"], {"a/keep.md", "docs/b.txt"}),
                           (["!a/keep.md", "a", "**/*.pem"], {"docs/b.txt", "data/d.csv"}),  # last wins
                           (["*", "!docs"], {"docs/b.txt"}),
                           (["x/**", "!x/y", "z.pem"], {"a/keep.md", "a/drop.md", "docs/b.txt", "data/d.csv", "x/y/z.pem"})):
        sdk = {p for p in exclude_paths(str(tmp_path), list(patterns), dockerfile="Dockerfile")
               if (tmp_path / p).is_file()}
        assert buildkit_context(tmp_path, patterns) == sdk == want, patterns
    # where the SDK's walk differs: a '**/' folder pattern keeps out what is inside the folder
    touch(tmp_path, ".docker/config.json")
    assert ".docker/config.json" not in buildkit_context(tmp_path, ["**/.docker"])
