"""The github_actions target: what the workflows mean, read back from the YAML it writes.

Workflows are re-parsed and compared with the Plan: jobs and ``needs`` in plan order,
triggers, permissions, pinned actions, timeouts, secrets scoping and the files passed
between jobs. The shell the workflows run is executed for real where it is mlspec's own
(artifact packing, the retry loop). Validator tests run actionlint, zizmor (auditor
persona), check-jsonschema and yamllint on every example.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compiling import beside, emit, example_text, remember
from mlspec import diagnostics as dx
from mlspec.api import check_project
from mlspec.language.types import cron_expression
from mlspec.targets import action_pins as pins
from mlspec.targets import available_targets
from mlspec.targets import github_actions as gha
from tests import validators as V

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent.name for p in (ROOT / "examples").glob("*/mlproject.yaml"))
MINE = ("github_actions", "docker")
# Specs are written to folders under one scratch directory, removed when the process exits.
_SPECS = tempfile.TemporaryDirectory(prefix="mlspec-gha-")
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


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



def checked(text: str, targets: tuple[str, ...] = MINE):
    """Check a spec written to a fresh folder (the output folder too, as `mlspec compile` does)."""
    folder = Path(tempfile.mkdtemp(dir=_SPECS.name))
    beside(text, folder)
    path = folder / "mlproject.yaml"
    path.write_text(installed_targets_only(text), encoding="utf-8")
    return check_project(path, display_name="mlproject.yaml", targets=targets, out_dir=folder)


def plan_of(text: str, targets: tuple[str, ...] = MINE):
    result = checked(text, targets)
    assert result.ok, [d.to_json() for d in result.diagnostics if d.is_error]
    return remember(result)


def workflows(plan) -> dict[str, dict[str, Any]]:
    """Every workflow the target writes, parsed back from its text."""
    arts = [a for a in emit(plan, ["github_actions"]) if a.target == "github_actions"]
    return {a.path: yaml.safe_load(a.render(plan.source)) for a in arts}


def train_workflow(plan) -> dict[str, Any]:
    return workflows(plan)[f".github/workflows/{plan.project.name}-train.yml"]


def ci_workflow(plan) -> dict[str, Any]:
    return workflows(plan)[f".github/workflows/{plan.project.name}-ci.yml"]


def on(workflow: dict[str, Any]) -> dict[str, Any]:
    # PyYAML reads the key "on" (quoted in the file) as a string; unquoted it would be True.
    return workflow["on"]


def steps_named(job: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [s for s in job["steps"] if s["name"].startswith(prefix)]


def command_step(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = steps_named(job, "Run ")
    return step


def write_artifacts(plan, out: Path, targets=MINE) -> list[Path]:
    paths = []
    for a in emit(plan, list(targets)):
        p = out / a.path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(a.render(plan.source), encoding="utf-8")
        paths.append(p)
    return paths


SPEC_HEAD = """\
mlspec: 1
project: {name: demo}
environment:
  requirements: requirements.txt
  secrets: [API_TOKEN]
"""


def spec(body: str, targets: str = "") -> str:
    return SPEC_HEAD + body + (f"targets:\n{targets}" if targets else "")


TRAIN_ONLY = """\
training:
  run: python train.py
  outputs: {model: models/model.joblib}
"""


@pytest.fixture(scope="module")
def reference():
    return plan_of(example_text("reference"))


# --------------------------------------------------------------------------- pins


def test_every_pin_is_a_full_commit_sha_with_a_release_tag() -> None:
    assert pins.ALL, "no pins"
    for pin in pins.ALL:
        assert pins.SHA.fullmatch(pin.sha), pin
        assert re.fullmatch(r"v\d+(\.\d+)*", pin.tag), pin
        assert re.fullmatch(r"[a-z0-9-]+/[a-z0-9-]+", pin.action), pin
    assert len({p.action for p in pins.ALL}) == len(pins.ALL)


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_uses_is_a_pinned_sha_with_its_tag_comment(example: str) -> None:
    plan = plan_of(example_text(example))
    for art in emit(plan, ["github_actions"]):
        uses_lines = [ln for ln in art.render(plan.source).splitlines() if re.match(r"\s*(- )?uses:", ln)]
        assert uses_lines
        for line in uses_lines:
            m = re.fullmatch(r'\s*(?:- )?uses: "([^"@]+)@([0-9a-f]{40})"  # (v[\d.]+)', line)
            assert m, line
            assert pins.BY_USES[f"{m[1]}@{m[2]}"].tag == m[3]


# --------------------------------------------------------------------------- the training workflow


def job_of(jobs: dict[str, Any], node) -> tuple[str, dict[str, Any]]:
    """The job that runs ``node`` (its step is named after the node)."""
    (found,) = [(jid, job) for jid, job in jobs.items() if jid != gha.REPORT_JOB
                and any(s["name"] == f"Run {node.title}" for s in job["steps"])] or [
        (gha.job_id(node), jobs[gha.job_id(node)])]
    return found


def node_step(job: dict[str, Any], node) -> dict[str, Any]:
    (step,) = [s for s in job["steps"] if s["name"] == f"Run {node.title}"]
    return step


def test_chains_share_a_job_and_fan_out_keeps_its_own(reference) -> None:
    jobs = train_workflow(reference)["jobs"]
    # check → prepare → train → evaluate is a chain; the LLM eval runs beside it; the gate joins
    # both; approval (reviewers), register (release branch only) and the image build stand alone.
    assert list(jobs) == ["train", "eval-faithfulness", "gate", "approve", "register", "build", "report"]
    assert jobs["train"]["name"] == "check data customers → step prepare → train → evaluate"
    assert [s["name"] for s in steps_named(jobs["train"], "Run ")] == [
        "Run check data customers", "Run step prepare", "Run train", "Run evaluate"]
    seen: list[str] = []
    order = list(jobs)
    for node in reference.nodes:
        jid, job = job_of(jobs, node)
        seen.append(node.id)
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", jid)
        # the job needs the jobs of every node its nodes need, and only jobs that come before it
        for need in node.needs:
            need_job = job_of(jobs, reference.node(need))[0]
            assert need_job == jid or need_job in job.get("needs", []), (node.id, need)
        assert all(order.index(n) < order.index(jid) for n in job.get("needs", []))
    assert seen == [n.id for n in reference.nodes]
    assert jobs["gate"]["needs"] == ["train", "eval-faithfulness"]


def test_packing_stops_at_the_runner_time_limit_and_at_other_runners() -> None:
    steps = "".join(f"  s{i}:\n    run: echo {i}\n    timeout: 100m\n"
                    + (f"    needs: [steps.s{i - 1}]\n" if i else "") for i in range(7))
    plan = plan_of(spec("steps:\n" + steps + "training:\n  run: python train.py\n  needs: [steps.s6]\n"
                        "  outputs: {model: m.bin}\n  resources: {gpu: 1}\n",
                        targets="  github_actions: {gpu_runs_on: [self-hosted, gpu]}\n"))
    jobs = train_workflow(plan)["jobs"]
    # 100 minutes a node, 10 of setup: three nodes fit in GitHub-hosted runners' 360 minutes
    assert [len(steps_named(j, "Run ")) for jid, j in jobs.items() if jid != gha.REPORT_JOB] == [3, 3, 1, 1]
    assert all(j["timeout-minutes"] <= gha.HOSTED_MAX_MINUTES for j in jobs.values())
    assert list(jobs)[-2] == "train" and jobs["train"]["runs-on"] == ["self-hosted", "gpu"]


def _chain(n: int, *, retries: int = 0, timeout: str | None = None) -> str:
    """A spec whose ``n`` steps run one after the other, each reading the previous one's file."""
    extra = (f", retries: {retries}" if retries else "") + (f", timeout: {timeout}" if timeout else "")
    lines = ["mlspec: 1", "project: {name: big}", "storage: {uri: 's3://bucket/big'}", "steps:"]
    for i in range(n):
        needs = f", needs: [steps.s{i - 1}]" if i else ""
        lines.append(f"  s{i}: {{run: 'python -m pipeline.step --index {i} --in o{i - 1}.txt --out o{i}.txt', "
                     f"outputs: [o{i}.txt]{needs}{extra}}}")
    lines += ["training:", "  run: python train.py", f"  needs: [steps.s{n - 1}]", "  outputs: {model: m.bin}"]
    return "\n".join(lines) + "\n"


def _limits(text: str) -> tuple[Any, list[Any]]:
    result = checked(text, ("github_actions",))
    return result, [d for d in result.diagnostics if d.code in (dx.GHA_TOO_MANY_JOBS, dx.GHA_WORKFLOW_TOO_LARGE)]


def test_a_thousand_step_chain_fits_in_one_workflow_run() -> None:
    result, limits = _limits(_chain(1000))
    assert result.ok and not limits, [d.to_json() for d in result.diagnostics]
    art = next(a for a in emit(result.plan, ["github_actions"]) if a.path.endswith("-train.yml"))
    text = art.render(result.plan.source)
    wf = yaml.safe_load(text)
    # 60 minutes a step without a timeout: five steps share a job (310 of the 360 minutes)
    assert len(wf["jobs"]) == 202 <= gha.MAX_JOBS
    assert len(text.encode()) <= gha.MAX_WORKFLOW_BYTES
    runs = [s["name"] for j in wf["jobs"].values() for s in j["steps"] if s["name"].startswith("Run ")]
    assert runs == [f"Run {n.title}" for n in result.plan.nodes]
    # steps with a timeout pack closer: 5,000 one-minute steps fit in 16 jobs, not in 500 KB
    result, limits = _limits(_chain(5000, timeout="1m"))
    assert [d.code for d in limits] == [dx.GHA_WORKFLOW_TOO_LARGE]


def test_more_jobs_than_github_starts_is_a_positioned_diagnostic() -> None:
    result, limits = _limits(_chain(5000))
    (diag,) = limits
    assert diag.code == dx.GHA_TOO_MANY_JOBS and not result.ok
    # 255 jobs of five steps: the step starting job 256 is the first one too many
    assert diag.path == ("steps", "s1275") and diag.span is not None
    assert "1002 jobs" in diag.message
    fan = "".join(f"  p{i}: {{run: ./part.sh {i}, needs: [steps.root]}}\n" for i in range(300))
    result, limits = _limits(spec("steps:\n  root: {run: ./fetch.sh}\n" + fan + TRAIN_ONLY))
    # a fan-out keeps its parallelism (a matrix would count each leg as a job too): the diagnostic
    assert [d.code for d in limits] == [dx.GHA_TOO_MANY_JOBS]
    assert limits[0].path[0] == "steps"


def test_a_workflow_over_500_kb_is_a_diagnostic() -> None:
    # retries put each command in the step's env and a retry loop beside it: ~550 bytes a step
    result, limits = _limits(_chain(1100, retries=1))
    (diag,) = limits
    assert diag.code == dx.GHA_WORKFLOW_TOO_LARGE and not result.ok
    assert diag.path[0] == "steps" and diag.span is not None
    assert int(re.search(r"would be (\d+) KB", diag.message)[1]) > 500


def test_triggers_come_from_retraining(reference) -> None:
    wf = train_workflow(reference)
    # The reference example also runs Airflow, which owns the schedule: no cron here.
    assert reference.retraining.scheduler == "airflow"
    assert on(wf) == {"workflow_dispatch": {}, "repository_dispatch": {"types": ["mlspec-retrain"]}}
    assert "pull_request_target" not in on(wf) and "workflow_run" not in on(wf)
    minimal = train_workflow(plan_of(example_text("minimal")))
    assert on(minimal) == {"workflow_dispatch": {}}


def test_hardening_defaults(reference) -> None:
    for path, wf in workflows(reference).items():
        assert wf["permissions"] == {}, path
        assert wf["defaults"]["run"]["shell"] == "bash"
        assert wf["concurrency"]["group"] == "${{ github.workflow }}-${{ github.ref }}"
        assert wf["concurrency"]["cancel-in-progress"] is path.endswith("-ci.yml")
        for jid, job in wf["jobs"].items():
            assert isinstance(job["timeout-minutes"], int) and job["timeout-minutes"] > 0, jid
            assert "permissions" in job and job["name"], jid
            for step in job["steps"]:
                assert step["name"]
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False
                # no expression ever reaches a shell script
                assert "${{" not in step.get("run", ""), (jid, step["name"])


def test_permissions_are_minimal_and_only_the_image_build_writes(reference) -> None:
    jobs = train_workflow(reference)["jobs"]
    for jid, job in jobs.items():
        if jid == "build":
            assert job["permissions"] == {"contents": "read", "packages": "write"}
        elif jid == "approve":
            assert job["permissions"] == {}
        elif jid == "register":   # reads who approved the environment (the run's approvals API)
            assert job["permissions"] == {"actions": "read", "contents": "read"}
        else:
            assert job["permissions"] == {"contents": "read"}, jid
    ci = ci_workflow(reference)["jobs"]
    assert ci["validate"]["permissions"] == {"contents": "read"}
    assert ci["training-image"]["permissions"] == {"contents": "read", "packages": "write"}


def test_write_scope_carries_its_reason(reference) -> None:
    art = next(a for a in emit(reference, ["github_actions"]) if a.path.endswith("-train.yml"))
    assert 'packages: "write"  # push the image to ghcr.io' in art.content
    assert 'actions: "read"  # read who approved the run\'s environment, for the audit record' in art.content


def test_timeouts_cover_every_attempt_plus_setup(reference) -> None:
    jobs = train_workflow(reference)["jobs"]
    train = jobs["train"]
    # steps.prepare: timeout 30m, retries 2 -> 3 attempts of 30 min with two 30 s pauses
    assert node_step(train, reference.node("step.prepare"))["timeout-minutes"] == 91
    # training: 2h, no retries
    assert node_step(train, reference.node("train"))["timeout-minutes"] == 120
    # no timeout in the spec: no step limit, the option's minutes count in its job's timeout
    assert "timeout-minutes" not in node_step(train, reference.node("evaluate"))
    assert train["timeout-minutes"] == 60 + 91 + 120 + 60 + gha.SETUP_MINUTES
    # alone in its job without a timeout: the option is the job's timeout, no step limit
    assert jobs["gate"]["timeout-minutes"] == 60
    assert "timeout-minutes" not in command_step(jobs["gate"])


def test_commands_run_as_written_and_jobs_install_what_they_run(reference) -> None:
    jobs = train_workflow(reference)["jobs"]
    for node in reference.nodes:
        if node.kind in ("approve", "build"):
            continue
        _, job = job_of(jobs, node)
        step = node_step(job, node)
        command = reference.command_for(node)
        if node.retries:
            assert step["env"][gha.COMMAND_VAR] == command
        else:
            assert step["run"] == command
    for jid, job in jobs.items():
        installs = steps_named(job, "Install")
        installed = " ".join(s["env"].get("MLSPEC_INSTALL", "") for s in installs)
        requirements = any("MLSPEC_REQUIREMENTS" in s["env"] for s in installs)
        if jid in ("approve",):
            assert not installs
            continue
        # the store moves files between jobs: every job runs mlspec; only jobs running the
        # project's own code install its requirements (gate, register and the report do not)
        assert "mlspec-compiler[runtime]==" in installed, jid
        assert requirements is (jid in ("train", "eval-faithfulness")), jid
        (setup,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/setup-python@")]
        if jid == "build":   # publishes an image: restores no cache
            assert "cache" not in setup["with"]
        else:
            assert setup["with"]["cache"] == "pip"
            assert setup["with"]["cache-dependency-path"] == (
                "requirements.txt" if requirements else ".github/workflows/churn-train.yml")
    assert command_step(jobs["gate"])["run"] == "mlspec gate -- mlproject.yaml"


def test_secrets_only_on_the_steps_that_use_them_in_jobs_in_an_environment(reference) -> None:
    jobs = train_workflow(reference)["jobs"]
    store = {f"${{{{ secrets.{s} }}}}" for s in reference.storage.secrets}
    assert store
    by_step = {f"Run {n.title}": n for n in reference.nodes}
    for jid, job in jobs.items():
        refs_in_job = set()
        for step in job["steps"]:
            refs = {m for v in step.get("env", {}).values() for m in EXPRESSION.findall(v)} - {
                "${{ join(needs.*.result, ' ') }}", "${{ vars.MLSPEC_PUSHGATEWAY }}"}
            refs_in_job |= refs - {"${{ github.token }}"}   # the job's own token is no secret
            node = by_step.get(step["name"])
            if step["name"].startswith(("Restore inputs", "Save outputs", "Export the production metrics")):
                assert refs == store, (jid, step["name"])       # the store (and registry) credentials only
            elif node is not None:
                own = {f"${{{{ secrets.{s} }}}}" for s in node.secrets}
                # The register step also gets the job's token (actions: read) to learn who approved.
                token = {"${{ github.token }}"} if node.kind == "register" else set()
                assert not token or step["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
                assert refs == own | token | (store if node.runtime or node.fetch_production else set()), node.id
            else:
                assert not refs, (jid, step["name"])
        assert (job.get("environment") == "training") is bool(refs_in_job) or jid == "approve", jid
    assert "environment" not in jobs[gha.REPORT_JOB]


def test_approval_is_an_environment_job_and_releases_only_from_the_branch(reference) -> None:
    jobs = train_workflow(reference)["jobs"]
    assert jobs["approve"]["environment"] == "production"
    assert jobs["approve"]["needs"] == ["gate"]
    assert command_step_or_record(jobs["approve"])["env"]["MLSPEC_REVIEWERS"] == "growth-ml-leads"
    for jid in ("approve", "register", "build"):
        assert jobs[jid]["if"] == "github.ref == 'refs/heads/main'"
    for jid in ("train", "eval-faithfulness", "gate"):
        assert "if" not in jobs[jid]


def command_step_or_record(job: dict[str, Any]) -> dict[str, Any]:
    (step,) = job["steps"]
    return step


def test_image_build_pushes_the_serving_dockerfile(reference) -> None:
    build = train_workflow(reference)["jobs"]["build"]
    uses = [s.get("uses", "").split("@")[0] for s in build["steps"]]
    assert uses == ["actions/checkout", "actions/setup-python", "", "", "docker/setup-buildx-action",
                    "docker/login-action", "docker/metadata-action", "docker/build-push-action"]
    login = steps_named(build, "Log in")[0]["with"]
    assert login == {"registry": "ghcr.io", "username": "${{ github.actor }}", "password": "${{ github.token }}"}
    meta = steps_named(build, "Image tags")[0]
    assert meta["with"]["images"] == "ghcr.io/example/churn"
    push = build["steps"][-1]["with"]
    assert push["file"] == "docker/churn.serve.Dockerfile" and push["context"] == "." and push["push"] is True
    assert push["tags"] == "${{ steps.meta.outputs.tags }}"
    # only the model is fetched for the image
    restore = steps_named(build, "Restore inputs")[0]["env"]
    assert (restore["MLSPEC_NODES"], restore["MLSPEC_PATHS"]) == ("build", "models/model.joblib")


def test_jobs_restore_what_other_jobs_made_and_save_every_output(reference) -> None:
    jobs = train_workflow(reference)["jobs"]
    made_in = {o: job_of(jobs, n)[0] for n in reference.nodes for o in n.outputs}
    for jid, job in jobs.items():
        nodes = [n for n in reference.nodes if any(s["name"] == f"Run {n.title}" for s in job["steps"])]
        if not nodes or jid == "build":
            continue
        outside = [i for n in nodes for i in n.inputs if made_in.get(i, jid) != jid]
        restore = steps_named(job, "Restore inputs")
        if outside:
            # every node of the job is named, so the store skips what the job makes itself
            (step,) = restore
            assert step["env"]["MLSPEC_NODES"].split("\n") == [n.id for n in nodes], jid
            assert "MLSPEC_PATHS" not in step["env"]
        else:
            assert not restore, jid
        save = steps_named(job, "Save outputs")
        writers = [n.id for n in nodes if n.outputs]
        assert [s["env"]["MLSPEC_NODES"].split("\n") for s in save] == ([writers] if writers else []), jid
        # the store's steps come before and after every command
        names = [s["name"] for s in job["steps"]]
        runs = [i for i, n in enumerate(names) if n.startswith("Run ")]
        assert all(names.index(s["name"]) < runs[0] for s in restore)
        assert all(names.index(s["name"]) > runs[-1] for s in save)
    assert not steps_named(jobs["train"], "Restore inputs")
    assert steps_named(jobs["gate"], "Restore inputs") and steps_named(jobs["register"], "Restore inputs")
    # one run id for every attempt: a re-run of the failed jobs finds what the others saved
    assert train_workflow(reference)["env"] == {"MLSPEC_RUN_ID": "gh-${{ github.run_id }}"}


def test_with_a_local_store_files_pass_as_artifacts_of_the_producing_job() -> None:
    plan = plan_of(spec("""\
steps:
  a: {run: echo a > a.txt, outputs: [a.txt]}
  b: {run: cat a.txt > b.txt, needs: [steps.a], outputs: [b.txt]}
  c: {run: cat a.txt > c.txt, needs: [steps.a], outputs: [c.txt]}
training:
  run: cat b.txt c.txt > m.bin
  needs: [steps.b, steps.c]
  outputs: {model: m.bin}
"""))
    wf = train_workflow(plan)
    jobs = wf["jobs"]
    assert "env" not in wf
    assert list(jobs) == ["step-a", "step-b", "step-c", "train", "report"]
    # a job starts on an empty runner: every upstream job that writes files, not only its needs
    assert [s["with"]["name"] for s in steps_named(jobs["train"], "Download")] == ["step-a", "step-b", "step-c"]
    assert [s["with"]["name"] for s in steps_named(jobs["step-b"], "Download")] == ["step-a"]
    assert steps_named(jobs["step-a"], "Upload outputs")[0]["with"]["name"] == "step-a"
    assert not steps_named(jobs["train"], "Install mlspec")


def test_deep_chains_download_every_artifact_in_one_step() -> None:
    """Past MAX_NAMED_DOWNLOADS producing ancestors a job fetches the run's artifacts in one
    step, so a job's size does not grow with its depth."""
    # each step of the chain also feeds a side step: a fan-out at every node keeps one job each
    steps = "".join(f"  s{i}: {{run: python s{i}.py, outputs: [out/s{i}]"
                    + (f", needs: [steps.s{i - 1}]" if i else "") + "}\n"
                    + f"  side{i}: {{run: python side.py, needs: [steps.s{i}]}}\n" for i in range(12))
    plan = plan_of("mlspec: 1\nproject: {name: deep}\nsteps:\n" + steps
                        + "training: {run: python t.py, needs: [steps.s11], outputs: {model: m.pkl}}\n")
    jobs = train_workflow(plan)["jobs"]
    for i in range(12):
        names = [s["name"] for s in steps_named(jobs[gha.job_id(plan.node(f"step.s{i}"))], "Download")]
        if i <= gha.MAX_NAMED_DOWNLOADS:
            assert names == [f"Download outputs of job step-s{j}" for j in range(i)]
        else:
            assert names == ["Download the outputs of every upstream job"]


def _run_script(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
                          cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=60)


def test_packing_and_unpacking_keep_paths_and_folders(tmp_path: Path) -> None:
    plan = plan_of(spec("""\
steps:
  prep:
    run: mkdir -p "out dir/sub" && echo a > "out dir/sub/x y.txt" && echo b > single.csv
    outputs: ["out dir/sub", single.csv]
  other: {run: "true", needs: [steps.prep]}    # a fan-out: training gets a job of its own
training:
  run: cat single.csv "out dir/sub/x y.txt"
  needs: [steps.prep]
  outputs: {model: m.bin}
"""))
    jobs = train_workflow(plan)["jobs"]
    producer, temp, consumer = tmp_path / "producer", tmp_path / "runner-temp", tmp_path / "consumer"
    for d in (producer, temp, consumer):
        d.mkdir()
    prep = jobs["step-prep"]
    assert _run_script(command_step(prep)["run"], {}, producer).returncode == 0
    pack = steps_named(prep, "Pack outputs")[0]
    r = _run_script(pack["run"], {**pack["env"], "RUNNER_TEMP": str(temp)}, producer)
    assert r.returncode == 0, r.stderr
    # download-artifact puts the tar under RUNNER_TEMP/mlspec-inputs/<name>/
    download = steps_named(jobs["train"], "Download")[0]["with"]
    target = Path(download["path"].replace("${{ runner.temp }}", str(temp)))
    target.mkdir(parents=True)
    (temp / gha.OUTPUTS_TAR).rename(target / gha.OUTPUTS_TAR)
    unpack = steps_named(jobs["train"], "Unpack")[0]
    assert _run_script(unpack["run"], {"RUNNER_TEMP": str(temp)}, consumer).returncode == 0
    assert (consumer / "out dir/sub/x y.txt").read_text() == "a\n"
    assert (consumer / "single.csv").read_text() == "b\n"


def test_retry_loop_retries_with_its_own_errexit(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(gha, "RETRY_PAUSE_SECONDS", 0)
    plan = plan_of(spec("""\
steps:
  flaky:
    run: "false; touch never"
    retries: 2
training:
  run: python train.py
  needs: [steps.flaky]
  outputs: {model: m.bin}
"""))
    step = node_step(train_workflow(plan)["jobs"]["train"], plan.node("step.flaky"))
    assert step["run"].startswith("for attempt in 1 2 3; do")
    # errexit holds inside each attempt: `false; touch never` fails and never touches
    r = _run_script(step["run"], step["env"], tmp_path)
    assert r.returncode == 1 and not (tmp_path / "never").exists()
    assert r.stdout.count("::warning::") == 3
    # fails once, then succeeds
    env = {**step["env"], gha.COMMAND_VAR: "test -f marker || { touch marker; exit 1; }"}
    r = _run_script(step["run"], env, tmp_path)
    assert r.returncode == 0 and r.stdout.count("::warning::") == 1


# --------------------------------------------------------------------------- the CI workflow


def test_ci_validates_checks_and_tests() -> None:
    plan = plan_of(spec(TRAIN_ONLY.replace("training:", "training:", 1)).replace(
        "  secrets: [API_TOKEN]\n", "  secrets: [API_TOKEN]\n  test: python -m pytest -q\n  env: {A: b}\n"))
    wf = ci_workflow(plan)
    assert on(wf) == {"pull_request": {"branches": ["main"]}, "push": {"branches": ["main"]}}
    validate = wf["jobs"]["validate"]
    runs = [s.get("run", "") for s in validate["steps"]]
    assert 'mlspec validate --format github -- "$MLSPEC_SPEC"' in runs
    assert 'mlspec compile --check --format github --out . -- "$MLSPEC_SPEC"' in runs
    assert steps_named(validate, "Validate")[0]["env"] == {"MLSPEC_SPEC": "mlproject.yaml"}
    test = wf["jobs"]["test"]
    assert test["steps"][-1]["run"] == "python -m pytest -q"
    assert test["steps"][-1]["env"] == {"A": "b"}
    assert steps_named(test, "Install")[0]["env"] == {"MLSPEC_REQUIREMENTS": "requirements.txt"}
    # no secrets in CI: pull requests run it
    assert "secrets." not in yaml.safe_dump(wf)


def test_pull_requests_run_the_pipeline_up_to_the_gates_without_secrets() -> None:
    plan = plan_of(KITCHEN_SINK)
    job = ci_workflow(plan)["jobs"]["pipeline"]
    assert job["if"] == "github.event_name == 'pull_request'"
    # actions: read lists the base branch's artifacts: production's metrics, exported by the train workflow
    assert job["permissions"] == {"actions": "read", "contents": "read"} and "environment" not in job
    # the store and registry stay in the job, no metric leaves it
    assert job["env"] == {"MLSPEC_STORAGE": ".mlspec/pull-request-store", "MLSPEC_NO_PUSH": "1"}
    runs = [s["name"] for s in steps_named(job, "Run ")]
    assert runs == ["Run check data raw", "Run step featurize", "Run train", "Run evaluate", "Run gates"]
    names = [s["name"] for s in job["steps"]]
    fetch = job["steps"][names.index("Fetch the production metrics")]
    assert names.index("Fetch the production metrics") == names.index("Run gates") - 1
    assert fetch["env"] == {"GITHUB_TOKEN": "${{ github.token }}"}
    assert fetch["run"] == "mlspec ci-baseline fetch --out .mlspec/ci-baseline -- mlproject.yaml"
    gate = job["steps"][names.index("Run gates")]
    assert gate["run"] == "mlspec gate --baseline-dir .mlspec/ci-baseline -- mlproject.yaml"
    # ... which the register job of the train workflow uploads after registering
    register = train_workflow(plan)["jobs"]["register"]["steps"]
    rnames = [s["name"] for s in register]
    i = rnames.index("Export the production metrics for pull requests")
    assert rnames[i + 1] == "Upload the production metrics for pull requests"
    assert i > rnames.index("Run register model")                  # what register just made production
    upload = register[rnames.index("Upload the production metrics for pull requests")]["with"]
    assert upload["name"] == "mlspec-demo-production-metrics" and upload["include-hidden-files"] is True
    assert "secrets." not in yaml.safe_dump(job)           # the training node's secret is not passed
    assert not any("register" in s.get("run", "") for s in job["steps"])
    shown = steps_named(job, "Show the evaluation outputs")[0]
    assert shown["if"] == "always()" and shown["env"]["MLSPEC_OUTPUTS"].split("\n") == [
        "metrics/eval.json", "metrics/train.json"]
    assert steps_named(job, "Upload the evaluation")[0]["with"]["retention-days"] == 5
    off = plan_of(KITCHEN_SINK.replace("artifact_retention_days: 5}", "artifact_retention_days: 5,"
                                       " pull_request_pipeline: false}"))
    assert "pipeline" not in ci_workflow(off)["jobs"]


def test_no_test_job_without_a_test_command(reference) -> None:
    assert "test" not in ci_workflow(reference)["jobs"]


def test_ci_publishes_the_training_image_from_the_branch_only(reference) -> None:
    job = ci_workflow(reference)["jobs"]["training-image"]
    assert job["needs"] == ["validate"]
    assert job["if"] == "github.event_name == 'push' && github.ref == 'refs/heads/main'"
    assert steps_named(job, "Image tags")[0]["with"]["images"] == "ghcr.io/example/churn-train"
    assert job["steps"][-1]["with"]["file"] == "docker/churn.train.Dockerfile"
    # without a registry nothing is published, so there is no job
    assert "training-image" not in ci_workflow(plan_of(example_text("minimal")))["jobs"]


def test_spec_in_a_subfolder_runs_from_there(reference) -> None:
    plan = moved(reference, "ml/churn")
    wf = train_workflow(plan)
    assert wf["defaults"]["run"] == {"shell": "bash", "working-directory": "ml/churn"}
    build = wf["jobs"]["build"]["steps"][-1]["with"]
    assert build["context"] == "ml/churn" and build["file"] == "docker/churn.serve.Dockerfile"
    ci = ci_workflow(plan)
    assert steps_named(ci["jobs"]["validate"], "Validate")[0]["env"]["MLSPEC_SPEC"] == "ml/churn/mlproject.yaml"
    assert "working-directory" not in ci["defaults"]["run"]


# --------------------------------------------------------------------------- options and check()


def codes(result) -> list[tuple[str, str]]:
    return [(d.code, d.dotted_path) for d in result.diagnostics]


def test_options_change_the_workflows() -> None:
    plan = plan_of(spec(TRAIN_ONLY, targets=(
        "  github_actions: {runs_on: [self-hosted, linux], branch: release/v1, workflow_prefix: ml,"
        " mlspec_install: 'mlspec[runtime]==0.4.0', secrets_environment: ml-secrets, timeout_minutes: 30,"
        " release_branch_only: false, artifact_retention_days: 3, ci: false}\n")))
    wfs = workflows(plan)
    assert list(wfs) == [".github/workflows/ml-train.yml"]
    job = wfs[".github/workflows/ml-train.yml"]["jobs"]["train"]
    assert job["runs-on"] == ["self-hosted", "linux"]
    assert job["timeout-minutes"] == 30
    assert job["environment"] == "ml-secrets"
    assert steps_named(job, "Upload")[0]["with"]["retention-days"] == 3


def test_invalid_options_are_positioned_errors() -> None:
    result = checked(spec(TRAIN_ONLY, targets="  github_actions: {branch: 'feature/*', timeout_minutes: 0}\n"))
    assert ("MS404", "targets.github_actions.branch") in codes(result)
    assert any(c == "MS105" or p == "targets.github_actions.timeout_minutes" for c, p in codes(result))
    result = checked(spec(TRAIN_ONLY, targets="  github_actions: {registry_username_secret: USER}\n"))
    assert [c for c, _ in codes(result) if c.startswith("MS4")] == ["MS404"]


def test_gpu_nodes_need_a_gpu_runner() -> None:
    body = TRAIN_ONLY + "  resources: {gpu: 1}\n"
    result = checked(spec(body))
    assert ("MS402", "training.resources.gpu") in codes(result) and result.plan is None
    plan = plan_of(spec(body, targets="  github_actions: {gpu_runs_on: [self-hosted, gpu]}\n"))
    assert train_workflow(plan)["jobs"]["train"]["runs-on"] == ["self-hosted", "gpu"]


def test_jobs_longer_than_hosted_runners_allow_are_reported() -> None:
    body = TRAIN_ONLY + "  timeout: 8h\n"
    assert ("MS402", "training.timeout") in codes(checked(spec(body)))
    plan = plan_of(spec(body, targets="  github_actions: {runs_on: self-hosted}\n"))
    assert train_workflow(plan)["jobs"]["train"]["timeout-minutes"] == 480 + gha.SETUP_MINUTES


def test_other_registries_need_credentials() -> None:
    body = TRAIN_ONLY + "serving: {mode: online, run: python serve.py, port: 8000, slo: {error_rate: 0.01}}\n"
    result = checked(spec(body, targets="  docker: {registry: registry.example.com/ml}\n"))
    assert ("MS402", "targets.docker.registry") in codes(result)
    plan = plan_of(spec(body, targets=(
        "  docker: {registry: registry.example.com/ml}\n"
        "  github_actions: {registry_username_secret: REG_USER, registry_password_secret: REG_PASSWORD}\n")))
    build = train_workflow(plan)["jobs"]["build"]
    assert build["permissions"] == {"contents": "read"}
    assert build["environment"] == "training"
    assert steps_named(build, "Log in")[0]["with"] == {
        "registry": "registry.example.com", "username": "${{ secrets.REG_USER }}",
        "password": "${{ secrets.REG_PASSWORD }}"}


def test_without_a_registry_the_image_is_built_not_pushed() -> None:
    body = TRAIN_ONLY + "serving: {mode: online, run: python serve.py, port: 8000, slo: {error_rate: 0.01}}\n"
    build = train_workflow(plan_of(spec(body)))["jobs"]["build"]
    assert build["permissions"] == {"contents": "read"}
    assert not steps_named(build, "Log in") and build["steps"][-1]["with"]["push"] is False


def test_spec_outside_the_repository_is_reported(reference) -> None:
    diags = gha.GitHubActionsTarget().check(moved(reference, "../elsewhere"))
    assert [d.code for d in diags] == [dx.TARGET_CANNOT_EXPRESS]


def test_nul_in_text_is_reported_not_crashed_on(reference) -> None:
    """The loader refuses NUL; the target still reports it (it could not encode it) if a Plan has one."""
    node = next(n for n in reference.nodes if n.id == "step.prepare")
    bad = dataclasses.replace(node, env=(*node.env, ("EXTRA", "a\0b")))
    plan = dataclasses.replace(reference, nodes=tuple(bad if n is node else n for n in reference.nodes))
    diags = gha.GitHubActionsTarget().check(plan)
    assert [(d.code, d.dotted_path) for d in diags] == [(dx.TARGET_CANNOT_EXPRESS, "steps.prepare.env.EXTRA")]


def test_reserved_variable_is_reported() -> None:
    body = TRAIN_ONLY + f"  env: {{{gha.COMMAND_VAR}: x}}\n"
    assert ("MS402", "training") in codes(checked(spec(body)))


@pytest.mark.parametrize(("cron", "expected"), [
    ("0 3 * * 1", "0 3 * * 1"),
    ("0 3 * * mon", "0 3 * * 1"),
    ("0 0 1 jan,JUL *", "0 0 1 1,7 *"),
    ("0 0 * * 7", "0 0 * * 0"),
    ("0 0 * * 5-7", "0 0 * * 0,5,6"),
    ("0 0 * * */2", "0 0 * * */2"),
    ("15 */6 * * mon-fri", "15 */6 * * 1-5"),
])
def test_cron_is_written_as_github_reads_it(cron: str, expected: str) -> None:
    assert cron_expression(cron) == expected


def test_cron_ranges_through_sunday_as_seven() -> None:
    assert cron_expression("0 0 * * 6-7") == "0 0 * * 0,6"
    assert cron_expression("0 0 * * 1-7/2") == "0 0 * * 0,1,3,5"


# --------------------------------------------------------------------------- determinism and layout


def test_output_is_deterministic(reference) -> None:
    first = [(a.path, a.content) for a in emit(reference, ["github_actions"])]
    again = [(a.path, a.content) for a in emit(plan_of(example_text("reference")), ["github_actions"])]
    assert first == again


def test_long_values_fold_without_changing() -> None:
    long_cmd = "python -m x " + " ".join(f"--flag-{i} 'value with \"quotes\" {i}'" for i in range(30))
    plan = plan_of(spec(f"training:\n  run: {json.dumps(long_cmd)}\n"
                        "  outputs: {model: m.bin}\n"))
    art = next(a for a in emit(plan, ["github_actions"]) if a.path.endswith("-train.yml"))
    assert max(len(ln) for ln in art.content.splitlines()) <= gha.FOLD_WIDTH
    assert command_step(yaml.safe_load(art.content)["jobs"]["train"])["run"] == long_cmd


# --------------------------------------------------------------------------- real validators


def _validate_workflows(paths: list[Path]) -> list[str]:
    return (V.actionlint(paths) + V.zizmor(paths) + V.check_jsonschema_workflows(paths) + V.yamllint(paths))


@pytest.mark.validator
@pytest.mark.parametrize("example", EXAMPLES)
def test_example_workflows_pass_every_validator(example: str, tmp_path: Path) -> None:
    plan = plan_of(example_text(example))
    written = write_artifacts(plan, tmp_path, targets=("github_actions",))
    assert written
    assert _validate_workflows(written) == []


KITCHEN_SINK = spec("""\
  test: python -m pytest -q
  env: {LOG_LEVEL: debug}
data:
  raw: {uri: s3://bucket/raw.parquet, version: v1, schema: {a: {type: integer}}}
steps:
  featurize:
    run: python -m demo.features --in ${data.raw.uri} --out features/
    needs: [data.raw]
    outputs: [features/]
    retries: 1
    timeout: 20m
    resources: {gpu: 1}
training:
  run: python -m demo.train --features features/ --model models/m.bin
  needs: [steps.featurize]
  outputs: {model: models/m.bin, metrics: metrics/train.json}
  secrets: []
validation:
  run: python -m demo.eval --model models/m.bin --out metrics/eval.json
  metrics: metrics/eval.json
  gates: [{metric: auc, min: 0.7}]
  approval: {required: true, environment: prod, reviewers: [ml-leads, "@org/team"]}
registry: {backend: mlflow, uri: "http://mlflow:5000"}
serving: {mode: batch, run: python -m demo.score, schedule: "0 2 * * *"}
retraining: {schedule: "30 4 * * sun", scheduler: github_actions}
""", targets=(
    "  docker: {registry: registry.example.com/ml}\n"
    # A real GPU runner has a custom label (declare it in actionlint.yaml) and is often
    # self-hosted (zizmor's auditor persona then reports self-hosted-runner); a known label
    # keeps this test about mlspec's output.
    "  github_actions: {gpu_runs_on: ubuntu-latest-16-cores, registry_username_secret: REG_USER,"
    " registry_password_secret: REG_PASSWORD, artifact_retention_days: 5}\n"))


@pytest.mark.validator
def test_every_feature_together_passes_every_validator(tmp_path: Path) -> None:
    plan = plan_of(KITCHEN_SINK)
    wf = train_workflow(plan)
    # the GPU step runs on its own runner; training, evaluation and gates share one job
    assert list(wf["jobs"]) == ["check-raw", "step-featurize", "train", "approve", "register", "build", "report"]
    assert on(wf)["schedule"] == [{"cron": "30 4 * * 0"}]
    assert _validate_workflows(write_artifacts(plan, tmp_path, targets=("github_actions",))) == []


def test_the_final_job_reports_how_the_run_ended(reference, tmp_path) -> None:
    """It needs every job, runs whatever happened, and turns their results into one status."""
    jobs = train_workflow(reference)["jobs"]
    report = jobs[gha.REPORT_JOB]
    assert report["needs"] == [j for j in jobs if j != gha.REPORT_JOB] and report["if"] == "always()"
    step = report["steps"][-1]
    assert step["env"]["MLSPEC_NEEDS"] == "${{ join(needs.*.result, ' ') }}"
    script = tmp_path / "status.sh"
    script.write_text(step["run"].replace("mlspec report-run", "echo"), encoding="utf-8")
    for needs, status in (("success success skipped", "success"), ("success failure skipped", "failure"),
                          ("success cancelled", "failure"), ("", "success")):
        out = subprocess.run(["bash", "-eo", "pipefail", str(script)], env={"MLSPEC_NEEDS": needs, "PATH": "/usr/bin:/bin"},
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == f"--node pipeline --status {status} -- mlproject.yaml", needs



def test_pull_requests_get_the_spec_diff_and_code_scanning_is_opt_in(tmp_path: Path) -> None:
    plan = plan_of(spec(TRAIN_ONLY))
    jobs = ci_workflow(plan)["jobs"]
    review = jobs["review"]
    assert review["if"] == "github.event_name == 'pull_request'" and review["permissions"] == {"contents": "read"}
    assert review["steps"][0]["with"]["fetch-depth"] == 0 and review["steps"][0]["with"]["persist-credentials"] is False
    assert review["steps"][-1]["run"].startswith("mlspec diff --format markdown")
    assert "code-scanning" not in jobs
    scanning = ci_workflow(plan_of(spec(TRAIN_ONLY, targets="  github_actions: {code_scanning: true}\n")))["jobs"]
    upload = scanning["code-scanning"]
    assert upload["permissions"] == {"contents": "read", "security-events": "write"}
    assert "github.event_name == 'push'" in upload["if"]
    off = ci_workflow(plan_of(spec(TRAIN_ONLY, targets="  github_actions: {review: false}\n")))["jobs"]
    assert "review" not in off


def test_a_project_below_the_root_runs_ci_only_for_its_own_changes(reference) -> None:
    plan = moved(reference, "ml/churn")
    on = ci_workflow(plan)["on"]
    paths = on["push"]["paths"]
    assert on["pull_request"]["paths"] == paths
    assert paths[:3] == ["ml/churn/**", ".github/workflows/churn-ci.yml", ".github/workflows/churn-train.yml"]
    # the files generated for it all carry its name: Dockerfiles, lock, model card, index, DAGs
    assert {".mlspec-manifest.churn.json", "**/churn.*", "**/*.churn.*", "**/churn_*"} <= set(paths)
    # a project at the root owns every change: no filter
    assert "paths" not in ci_workflow(reference)["on"]["push"]


def test_paths_filters_match_folder_names_literally(reference) -> None:
    on = ci_workflow(moved(reference, "ml/[x]*"))["on"]
    assert on["push"]["paths"][0] == "ml/\\[x\\]\\*/**"


# --------------------------------------------------------------------------- one scheduler per schedule


@pytest.mark.parametrize(("targets", "scheduler", "github_cron"), [
    ({}, None, False),                                            # both on: Airflow owns it
    ({"airflow": {"enabled": False}}, None, True),                # GitHub alone: GitHub owns it
    ({}, "github_actions", True),                                 # asked for: GitHub, and Airflow stays unscheduled
])
def test_one_target_runs_the_retraining_schedule(targets: dict, scheduler: str | None, github_cron: bool) -> None:
    retraining = {"schedule": "0 3 * * 1", **({"scheduler": scheduler} if scheduler else {})}
    spec = {"mlspec": 1, "project": {"name": "demo"},
            "training": {"run": "python train.py", "outputs": {"model": "models/model.pkl"}},
            "retraining": retraining, "targets": targets}
    plan = plan_of(json.dumps(spec), ("github_actions", "airflow"))
    assert plan.retraining.scheduler == ("github_actions" if github_cron else "airflow")
    triggers = on(train_workflow(plan))
    assert ("schedule" in triggers) is github_cron and "workflow_dispatch" in triggers
    if targets.get("airflow", {}).get("enabled", True):
        dag = next(a for a in emit(plan, ["airflow"]) if a.path.endswith("_pipeline.py")).content
        assert ("'0 3 * * 1'" in dag) is (not github_cron)
