"""The runner simulation on small hand-written workflows: each test pins one GitHub behaviour."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from tests.ghsim import (
    Approve, EventError, InvalidWorkflow, PullRequest, Push, Reject, RepositoryDispatch, Schedule,
    Simulator, UnsupportedFeature, WorkflowDispatch, load_workflow,
)

CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"
SETUP_PYTHON = "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065"
UPLOAD = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02"
DOWNLOAD = "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093"
CACHE = "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684"


def conclusions(result) -> dict[str, str]:
    return {job_id: result.result_of(job_id) for job_id in result.order}


def test_jobs_run_in_needs_order_and_outputs_flow(run_workflow):
    result = run_workflow("""
        on: push
        jobs:
          deploy:
            needs: [test]
            runs-on: ubuntu-latest
            steps:
              - run: echo "deploying ${{ needs.test.outputs.version }}"
          test:
            needs: build
            runs-on: ubuntu-latest
            outputs:
              version: ${{ steps.v.outputs.version }}
              notes: ${{ steps.v.outputs.notes }}
            steps:
              - id: v
                run: |
                  echo "version=${{ needs.build.outputs.base }}.1" >> "$GITHUB_OUTPUT"
                  { echo "notes<<EOF"; echo "line one"; echo "line two"; echo "EOF"; } >> "$GITHUB_OUTPUT"
          build:
            runs-on: ubuntu-latest
            outputs:
              base: ${{ steps.b.outputs.base }}
            steps:
              - id: b
                run: echo "base=1.2" >> "$GITHUB_OUTPUT"
          lint:
            runs-on: ubuntu-latest
            steps:
              - run: "true"
    """, Push())
    result.assert_success()
    assert result.order == ["build", "test", "deploy", "lint"]
    assert result.job("test").outputs == {"version": "1.2.1", "notes": "line one\nline two"}
    assert result.job("deploy").steps[0].log == ["deploying 1.2.1"]


def test_failure_skips_dependants_while_always_and_failure_jobs_run(run_workflow):
    result = run_workflow("""
        on: push
        jobs:
          build:
            runs-on: ubuntu-latest
            steps:
              - run: echo before
              - id: boom
                run: exit 3
              - run: echo never
              - if: failure()
                run: echo "cleanup after ${{ steps.boom.outcome }}"
              - if: always()
                run: echo always
          test:
            needs: build
            runs-on: ubuntu-latest
            steps:
              - run: echo test
          deploy:
            needs: test
            runs-on: ubuntu-latest
            steps:
              - run: echo deploy
          report:
            needs: [build, test]
            if: always()
            runs-on: ubuntu-latest
            steps:
              - run: echo "build=${{ needs.build.result }} test=${{ needs.test.result }}"
          notify:
            needs: build
            if: failure()
            runs-on: ubuntu-latest
            steps:
              - run: echo notify
          gated:
            needs: build
            if: github.event_name == 'push'
            runs-on: ubuntu-latest
            steps:
              - run: echo gated
    """, Push())
    assert result.conclusion == "failure"
    assert conclusions(result) == {"build": "failure", "test": "skipped", "deploy": "skipped",
                                   "report": "success", "notify": "success", "gated": "skipped"}
    build = result.job("build")
    assert [s.outcome for s in build.steps] == ["success", "failure", "skipped", "success", "success"]
    assert build.steps[3].log == ["cleanup after failure"]
    assert result.job("report").steps[0].log == ["build=failure test=skipped"]
    message = result.failure_message()
    assert "step 'Run exit 3' failed: Process completed with exit code 3." in message
    assert "job test (test): skipped" in message


def test_continue_on_error_keeps_the_job_status_green(run_workflow):
    result = run_workflow("""
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: flaky
                continue-on-error: true
                run: exit 1
              - run: echo "outcome=${{ steps.flaky.outcome }} conclusion=${{ steps.flaky.conclusion }} status=${{ job.status }}"
              - id: strict
                run: echo "${{ success() }}"
    """, Push())
    steps = result.job("j").steps
    assert steps[1].log == ["outcome=failure conclusion=success status=success"]
    # status functions exist only in `if:`, as on GitHub
    assert "Unrecognized function: 'success'" in steps[2].error


def test_env_layering_and_environment_files(run_workflow):
    result = run_workflow("""
        on: push
        env:
          LEVEL: workflow
          WF_ONLY: wf
        jobs:
          j:
            runs-on: ubuntu-latest
            env:
              LEVEL: job
            steps:
              - env:
                  LEVEL: step
                run: echo "$LEVEL $WF_ONLY"
              - run: |
                  echo "FROM_FILE=one" >> "$GITHUB_ENV"
                  echo "LEVEL=from-env-file" >> "$GITHUB_ENV"
                  { echo "MULTI<<END"; echo "a"; echo "b"; echo "END"; } >> "$GITHUB_ENV"
                  mkdir -p "$RUNNER_TEMP/tools"
                  printf '#!/bin/sh\\necho tool ran\\n' > "$RUNNER_TEMP/tools/mytool"
                  chmod +x "$RUNNER_TEMP/tools/mytool"
                  echo "$RUNNER_TEMP/tools" >> "$GITHUB_PATH"
                  echo "### Summary" >> "$GITHUB_STEP_SUMMARY"
              - run: |
                  echo "$LEVEL $FROM_FILE ${{ env.FROM_FILE }}"
                  printf '%s|' "$MULTI"; echo
                  mytool
              - env:
                  LEVEL: step-wins
                run: echo "$LEVEL"
              - run: echo "CI=$CI GITHUB_ACTIONS=$GITHUB_ACTIONS RUNNER_OS=$RUNNER_OS ref=$GITHUB_REF_NAME event=$GITHUB_EVENT_NAME"
              - run: python3 -c "import json,os; print(json.load(open(os.environ['GITHUB_EVENT_PATH']))['ref'])"
    """, Push())
    result.assert_success()
    steps = result.job("j").steps
    assert steps[0].log == ["step wf"]
    assert steps[1].summary == "### Summary\n"
    assert steps[2].log == ["from-env-file one one", "a", "b|", "tool ran"]  # GITHUB_ENV beats job env
    assert steps[3].log == ["step-wins"]  # step env beats GITHUB_ENV
    assert steps[4].log == ["CI=true GITHUB_ACTIONS=true RUNNER_OS=Linux ref=main event=push"]
    assert steps[5].log == ["refs/heads/main"]


def test_malformed_env_file_fails_the_step(run_workflow):
    result = run_workflow("""
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - run: '{ echo "X<<EOF"; echo "no end"; } >> "$GITHUB_ENV"'
    """, Push())
    assert result.conclusion == "failure"
    assert "matching delimiter not found 'EOF'" in result.job("j").steps[0].error


def test_artifacts_pass_between_jobs_while_job_folders_stay_isolated(run_workflow):
    result = run_workflow(f"""
        on: push
        jobs:
          produce:
            runs-on: ubuntu-latest
            steps:
              - uses: {CHECKOUT}
              - run: |
                  mkdir -p out/sub
                  echo model > out/model.bin
                  echo metrics > out/sub/metrics.json
                  echo secret-a > private.txt
                  echo home-a > "$HOME/home-file"
                  echo temp-a > "$RUNNER_TEMP/temp-file"
              - uses: {UPLOAD}
                with:
                  name: bundle
                  path: out/
                  if-no-files-found: error
              - uses: {UPLOAD}
                with:
                  name: single
                  path: ${{{{ github.workspace }}}}/out/model.bin
          consume:
            needs: produce
            runs-on: ubuntu-latest
            steps:
              - run: |
                  test -z "$(ls -A "$GITHUB_WORKSPACE")" && echo "workspace empty before checkout"
                  test ! -e "$HOME/home-file" && echo "no home file"
                  test ! -e "$RUNNER_TEMP/temp-file" && echo "no temp file"
              - uses: {CHECKOUT}
              - run: test ! -e private.txt && echo "no workspace file from produce"
              - uses: {DOWNLOAD}
                with:
                  name: bundle
                  path: got
              - uses: {DOWNLOAD}
                with:
                  path: all
              - run: |
                  cat got/model.bin got/sub/metrics.json
                  find all -type f | sort
          missing:
            needs: produce
            runs-on: ubuntu-latest
            steps:
              - uses: {DOWNLOAD}
                with:
                  name: nope
    """, Push())
    assert conclusions(result) == {"produce": "success", "consume": "success", "missing": "failure"}
    consume = result.job("consume").steps
    assert consume[0].log == ["workspace empty before checkout", "no home file", "no temp file"]
    assert consume[2].log == ["no workspace file from produce"]
    assert consume[5].log == ["model", "metrics", "all/bundle/model.bin", "all/bundle/sub/metrics.json",
                              "all/single/model.bin"]
    assert result.artifacts["bundle"].files == ["model.bin", "sub/metrics.json"]
    assert result.artifacts["single"].files == ["model.bin"]
    assert "Artifact not found for name: nope" in result.job("missing").steps[0].error


def test_upload_rules_no_files_and_overwrite(run_workflow):
    result = run_workflow(f"""
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - run: echo x > a.txt && mkdir .hidden && echo h > .hidden/h.txt
              - uses: {UPLOAD}
                with: {{name: a, path: "*.txt"}}
              - uses: {UPLOAD}
                with: {{name: hidden, path: ".hidden", if-no-files-found: warn}}
              - id: again
                continue-on-error: true
                uses: {UPLOAD}
                with: {{name: a, path: "*.txt"}}
              - uses: {UPLOAD}
                with: {{name: a, path: "*.txt", overwrite: true}}
              - uses: {UPLOAD}
                with: {{name: none, path: "missing/**", if-no-files-found: error}}
    """, Push())
    steps = result.job("j").steps
    assert steps[2].outcome == "success" and "hidden" not in result.artifacts  # hidden files excluded
    assert "No files were found" in steps[2].log[-1]
    assert steps[3].outcome == "failure" and "already exists" in steps[3].error
    assert steps[4].outcome == "success"
    assert steps[5].outcome == "failure" and "No files were found with the provided path: missing/**" in steps[5].error


def test_expression_functions_in_a_workflow(run_workflow):
    result = run_workflow("""
        on: push
        env:
          LIST: '["a","b"]'
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: actions/checkout@v4
              - run: |
                  echo "${{ format('{0}/{1}', github.repository, github.ref_name) }}"
                  echo "${{ join(fromJSON(env.LIST), '+') }}"
                  echo "${{ contains(fromJSON(env.LIST), 'B') && 'has b' || 'no b' }}"
                  echo "${{ startsWith(github.ref, 'refs/heads/') }} ${{ endsWith(github.ref, 'main') }}"
                  echo "${{ hashFiles('README.md') }}"
                  echo "${{ hashFiles('nothing*') }}|"
    """, Push())
    result.assert_success()
    import hashlib
    digest = hashlib.sha256(hashlib.sha256(b"hello\n").digest()).hexdigest()
    assert result.job("j").steps[1].log == ["octo-org/octo-repo/main", "a+b", "has b", "true true", digest, "|"]


def test_path_and_branch_filters(sim, repo):
    wf = repo.workflow("""
        on:
          push:
            branches: [main, 'release/**']
            paths: ['src/**', '!src/**/*.md']
          pull_request:
            branches: [main]
            paths-ignore: ['docs/**']
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - run: echo ran
    """)
    repo.commit({"docs/guide.md": "doc\n"})
    r = sim.run(wf, repo.path, Push("main"))
    assert not r.triggered and "no changed file matches on.push.paths" in r.reason
    repo.commit({"src/notes.md": "n\n"})
    assert not sim.run(wf, repo.path, Push("main")).triggered  # excluded by the later !pattern
    repo.commit({"src/app.py": "x = 1\n"})
    assert sim.run(wf, repo.path, Push("main")).conclusion == "success"
    repo.branch("topic")
    repo.commit({"src/more.py": "y = 2\n"})
    r = sim.run(wf, repo.path, Push("topic"))
    assert not r.triggered and "branch 'topic'" in r.reason
    repo.branch("release/1.0")
    assert sim.run(wf, repo.path, Push("release/1.0")).triggered
    # pull_request: branches filter the base; paths-ignore looks at the pull request's diff
    repo.git("checkout", "-q", "main")
    repo.branch("docs-only")
    repo.commit({"docs/more.md": "m\n"})
    r = sim.run(wf, repo.path, PullRequest(base="main", head="docs-only"))
    assert not r.triggered and "paths-ignore" in r.reason
    assert sim.run(wf, repo.path, PullRequest(base="main", head="topic")).triggered
    r = sim.run(wf, repo.path, PullRequest(base="main", head="topic", action="closed"))
    assert not r.triggered and "types" in r.reason
    r = sim.run(wf, repo.path, WorkflowDispatch())
    assert not r.triggered and "no on.workflow_dispatch trigger" in r.reason


def test_fork_pull_requests_get_no_secrets_or_vars(sim, repo):
    wf = repo.workflow("""
        on: pull_request
        permissions:
          contents: write
          pull-requests: write
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - env:
                  TOKEN: ${{ secrets.DEPLOY_TOKEN }}
                run: |
                  echo "token=[$TOKEN] var=[${{ vars.REGION }}]"
                  echo "length=${#TOKEN}"
    """)
    repo.branch("feature")
    repo.commit({"src/x.py": "x\n"})
    kw = dict(secrets={"DEPLOY_TOKEN": "s3cr3t-value"}, vars={"REGION": "eu"})
    own = sim.run(wf, repo.path, PullRequest(base="main", head="feature"), **kw)
    assert own.job("j").steps[0].log == ["token=[***] var=[eu]", "length=12"]
    assert own.job("j").permissions == {"contents": "write", "metadata": "read", "pull-requests": "write"}
    fork = sim.run(wf, repo.path, PullRequest(base="main", head="feature", fork=True), **kw)
    assert fork.job("j").steps[0].log == ["token=[] var=[]", "length=0"]
    assert fork.job("j").permissions == {"contents": "read", "metadata": "read", "pull-requests": "read"}
    assert not fork.job("j").secrets_available


@pytest.mark.parametrize(("defaults", "shell", "expect"), [
    ("", "", "success"),  # unspecified shell: bash -e {0} -- no pipefail
    ("", "shell: bash", "failure"),  # bash --noprofile --norc -eo pipefail {0}
    ("defaults:\n  run:\n    shell: bash\n", "", "failure"),
    ("", "shell: sh", "success"),  # sh -e {0}: no pipefail in POSIX sh
])
def test_shell_defaults_and_pipefail(run_workflow, defaults, shell, expect):
    import textwrap
    text = textwrap.dedent("""
        on: push
        {defaults}jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - {shell_line}run: |
                  false | true
                  echo reached
    """).format(defaults=defaults, shell_line=(shell + "\n        ") if shell else "")
    result = run_workflow(text, Push())
    assert result.job("j").conclusion == expect, result.failure_message()
    step = result.job("j").steps[0]
    expected_shell = {"": "bash -e {0}", "shell: bash": "bash --noprofile --norc -eo pipefail {0}",
                      "shell: sh": "sh -e {0}"}[shell if not defaults else "shell: bash"]
    assert step.shell == expected_shell


def test_python_shell_working_directory_and_missing_executable(run_workflow):
    result = run_workflow("""
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            defaults:
              run:
                working-directory: sub
            steps:
              - working-directory: .
                run: mkdir sub && echo hi > sub/f.txt
              - shell: python
                run: |
                  import os
                  print(os.path.basename(os.getcwd()), open("f.txt").read().strip())
              - shell: nosuchshell {0}
                run: echo x
    """, Push())
    steps = result.job("j").steps
    assert steps[1].log == ["sub hi"] and steps[1].shell == "python {0}"
    assert steps[2].outcome == "failure" and "Unable to locate executable file: nosuchshell" in steps[2].error


def test_workflow_commands_masking_and_secret_outputs(run_workflow):
    result = run_workflow("""
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            outputs:
              leaked: ${{ steps.s.outputs.value }}
              fine: ${{ steps.s.outputs.fine }}
            steps:
              - id: s
                env:
                  PASSWORD: ${{ secrets.PASSWORD }}
                run: |
                  echo "pw is $PASSWORD"
                  echo "::add-mask::generated-42"
                  echo "now generated-42"
                  echo "::group::Details"
                  echo "inside"
                  echo "::endgroup::"
                  echo "::error file=app.py,line=3::bad thing"
                  echo "::warning::careful%0Atwo lines"
                  echo "value=x-$PASSWORD" >> "$GITHUB_OUTPUT"
                  echo "fine=ok" >> "$GITHUB_OUTPUT"
              - run: echo "::set-env name=X::y"
    """, Push(), secrets={"PASSWORD": "hunter2"})
    job = result.job("j")
    step = job.steps[0]
    assert step.log == ["pw is ***", "now ***", "##[group]Details", "inside", "##[endgroup]",
                        "##[error]bad thing", "##[warning]careful\ntwo lines"]
    assert step.groups == ["Details"]
    assert step.env == {"PASSWORD": "***"}
    assert job.outputs == {"fine": "ok"}  # GitHub skips outputs that may contain a secret
    errors = [a for a in result.annotations if a.level == "error"]
    assert errors[0].message == "bad thing" and errors[0].properties == {"file": "app.py", "line": "3"}
    assert job.steps[1].outcome == "failure" and "set-env` command is disabled" in job.steps[1].error


def test_step_timeout_and_job_timeout(run_workflow):
    result = run_workflow("""
        on: push
        jobs:
          step-timeout:
            runs-on: ubuntu-latest
            steps:
              - timeout-minutes: 0.01
                continue-on-error: true
                run: sleep 30
              - run: echo after
          job-timeout:
            runs-on: ubuntu-latest
            timeout-minutes: 0.01
            steps:
              - run: sleep 30
              - run: echo skipped
              - if: always()
                run: echo "cleanup ${{ job.status }}"
    """, Push())
    st = result.job("step-timeout")
    assert st.conclusion == "success" and st.steps[0].outcome == "failure" and "timed out" in st.steps[0].error
    assert st.steps[1].log == ["after"]
    jt = result.job("job-timeout")
    assert jt.conclusion == "cancelled"
    assert [s.outcome for s in jt.steps] == ["cancelled", "skipped", "success"]
    assert jt.steps[2].log == ["cleanup cancelled"]
    assert jt.duration < 20


def test_environment_approval_gate(sim, repo):
    wf = repo.workflow("""
        on: push
        permissions: {}
        jobs:
          approve:
            runs-on: ubuntu-latest
            environment: production
            permissions: {}
            steps:
              - run: echo "key=[${{ secrets.PROD_KEY }}]"
          release:
            needs: approve
            runs-on: ubuntu-latest
            permissions:
              contents: read
            environment:
              name: staging
              url: https://staging.example.com
            steps:
              - run: echo released
    """)
    approved = sim.run(wf, repo.path, Push(), approvals={"production": Approve("lead-alice")},
                       environment_secrets={"production": {"PROD_KEY": "k-123"}})
    approved.assert_success()
    gate = approved.job("approve").environment
    assert (gate.name, gate.protected, gate.approved, gate.reviewer) == ("production", True, True, "lead-alice")
    assert approved.job("approve").steps[0].log == ["key=[***]"]
    staging = approved.job("release").environment
    assert (staging.name, staging.url, staging.protected, staging.reviewer) == (
        "staging", "https://staging.example.com", False, None)
    assert approved.job("approve").permissions == {} and approved.permissions == {}
    assert approved.job("release").permissions == {"contents": "read", "metadata": "read"}
    rejected = sim.run(wf, repo.path, Push(), approvals={"production": Reject("lead-bob", "not today")})
    assert conclusions(rejected) == {"approve": "failure", "release": "skipped"}
    assert rejected.job("approve").error == "deployment to environment 'production' was rejected by lead-bob"
    assert rejected.job("approve").steps == []


def test_matrix_include_exclude_and_fail_fast(run_workflow):
    result = run_workflow("""
        on: push
        jobs:
          test:
            runs-on: ubuntu-latest
            strategy:
              matrix:
                os: [linux, mac]
                py: ['3.10', '3.11']
                exclude:
                  - os: mac
                    py: '3.10'
                include:
                  - py: '3.11'
                    extra: yes
                  - os: bsd
                    py: '3.12'
            steps:
              - run: echo "${{ matrix.os }}-${{ matrix.py }}-${{ matrix.extra }} ${{ strategy.job-index }}/${{ strategy.job-total }}"
          ff:
            runs-on: ubuntu-latest
            strategy:
              matrix:
                n: [1, 2, 3]
            steps:
              - run: test ${{ matrix.n }} -ne 2
    """, Push())
    legs = result.jobs["test"]
    assert [leg.steps[0].log[0] for leg in legs] == ["linux-3.10- 0/4", "linux-3.11-yes 1/4", "mac-3.11-yes 2/4",
                                                      "bsd-3.12- 3/4"]
    assert [leg.name for leg in legs][0] == "test (linux, 3.10)"
    assert [leg.conclusion for leg in result.jobs["ff"]] == ["success", "failure", "cancelled"]
    assert result.result_of("ff") == "failure"


def test_unsupported_actions_fail_loudly_and_stubs_are_visible(sim, repo):
    wf = repo.workflow("""
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: img
                uses: docker/build-push-action@53b7df96c91f9c12dcc8a07bcb9ccacbed38856a
                with:
                  context: .
                  push: false
              - run: echo "digest=${{ steps.img.outputs.digest }}"
    """)
    with pytest.raises(UnsupportedFeature, match="unsupported action 'docker/build-push-action@.*register a stub"):
        sim.run(wf, repo.path, Push())
    seen = {}

    def build(ctx):
        seen.update(ctx.inputs)
        ctx.log("pretend build")
        return {"digest": "sha256:abc"}

    result = sim.run(wf, repo.path, Push(), stubs={"docker/build-push-action": build})
    result.assert_success()
    assert seen == {"context": ".", "push": "false"}
    step = result.job("j").steps[0]
    assert step.stubbed and step.log == ["pretend build"]
    assert result.stubs_used == ["j/Run docker/build-push-action@53b7df96c91f9c12dcc8a07bcb9ccacbed38856a: "
                                 "docker/build-push-action@53b7df96c91f9c12dcc8a07bcb9ccacbed38856a"]
    assert result.job("j").steps[1].log == ["digest=sha256:abc"]


def test_workflow_dispatch_inputs_schedule_and_repository_dispatch(sim, repo):
    wf = repo.workflow("""
        on:
          workflow_dispatch:
            inputs:
              dry-run:
                type: boolean
                default: true
              level:
                type: choice
                options: [low, high]
                required: true
          schedule:
            - cron: '0 3 * * 1'
          repository_dispatch:
            types: [retrain]
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - run: echo "${{ github.event_name }} dry=${{ inputs.dry-run == true }} raw=${{ github.event.inputs.dry-run }} level=${{ inputs.level }} cron=${{ github.event.schedule }} type=${{ github.event.action }}"
    """)
    r = sim.run(wf, repo.path, WorkflowDispatch(inputs={"level": "high"}))
    assert r.job("j").steps[0].log == ["workflow_dispatch dry=true raw=true level=high cron= type="]
    with pytest.raises(EventError, match="Required input 'level' not provided"):
        sim.run(wf, repo.path, WorkflowDispatch())
    with pytest.raises(EventError, match="not in the list of allowed values"):
        sim.run(wf, repo.path, WorkflowDispatch(inputs={"level": "max"}))
    r = sim.run(wf, repo.path, Schedule())
    assert r.job("j").steps[0].log == ["schedule dry=false raw= level= cron=0 3 * * 1 type="]
    assert not sim.run(wf, repo.path, Schedule(cron="5 * * * *")).triggered
    r = sim.run(wf, repo.path, RepositoryDispatch("retrain", {"why": "drift"}))
    assert r.job("j").steps[0].log[0].endswith("type=retrain")
    assert not sim.run(wf, repo.path, RepositoryDispatch("other")).triggered


def test_yaml_is_read_as_github_reads_it(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text("on:\n  push:\n    branches: [on, yes, 'no']\njobs:\n  j:\n    runs-on: ubuntu-latest\n"
                    "    steps:\n      - run: echo 010\n        timeout-minutes: 010\n")
    wf = load_workflow(path)
    assert list(wf.on) == ["push"]  # YAML 1.1 would read the key `on` as True
    assert wf.on["push"]["branches"] == ["on", "yes", "no"]
    assert wf.jobs["j"]["steps"][0]["timeout-minutes"] == 10
    path.write_text("on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    runs-on: ubuntu-22.04\n")
    with pytest.raises(InvalidWorkflow, match="already defined"):
        load_workflow(path)
    path.write_text("on: push\njobs:\n  j:\n    needs: nope\n    steps: []\n")
    with pytest.raises(InvalidWorkflow, match="unknown job 'nope'"):
        load_workflow(path)


def test_invalid_expression_in_job_if_fails_the_job(run_workflow):
    result = run_workflow("""
        on: push
        jobs:
          j:
            if: secrets.TOKEN != ''
            runs-on: ubuntu-latest
            steps:
              - run: echo x
    """, Push())
    assert result.job("j").conclusion == "failure"
    assert "Unrecognized named-value: 'secrets'" in result.job("j").error


def test_checkout_pull_request_merge_commit_depth_and_credentials(sim, repo):
    wf = repo.workflow(f"""
        on: [push, pull_request]
        jobs:
          shallow:
            runs-on: ubuntu-latest
            steps:
              - uses: {CHECKOUT}
              - run: |
                  git log -1 --format=%s | cut -d' ' -f1
                  git rev-parse --is-shallow-repository
                  git config --local --get http.https://github.com/.extraheader | cut -c1-20
                  echo "sha-matches=$(test "$(git rev-parse HEAD)" = "$GITHUB_SHA" && echo yes)"
                  cat feature.txt
          full:
            runs-on: ubuntu-latest
            steps:
              - uses: {CHECKOUT}
                with:
                  fetch-depth: 0
                  persist-credentials: false
                  path: nested/dir
              - working-directory: nested/dir
                run: |
                  git rev-parse --is-shallow-repository
                  git config --local --get http.https://github.com/.extraheader || echo "no credentials"
                  git rev-list --count HEAD
    """)
    repo.branch("feature")
    repo.commit({"feature.txt": "feature\n"})
    repo.git("checkout", "-q", "main")
    repo.commit({"main.txt": "main moved on\n"})
    result = sim.run(wf, repo.path, PullRequest(base="main", head="feature", number=7))
    result.assert_success()
    assert result.github["ref"] == "refs/pull/7/merge" and result.github["head_ref"] == "feature"
    assert result.job("shallow").steps[1].log == ["Merge", "true", "AUTHORIZATION: basic", "sha-matches=yes", "feature"]
    full = result.job("full").steps[1].log
    assert full[:2] == ["false", "no credentials"] and int(full[2]) >= 4
    assert result.job("shallow").steps[0].outputs["ref"] == "refs/pull/7/merge"


def test_setup_python_gives_a_fresh_isolated_venv(run_workflow):
    result = run_workflow(f"""
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - id: py
                uses: {SETUP_PYTHON}
                with:
                  python-version: '3.x'
              - run: |
                  python -c "import sys; print(sys.prefix == sys.base_prefix)"
                  python -c "import yaml" 2>/dev/null && echo "host packages leak" || echo "isolated"
                  test "$(command -v python)" = "${{{{ steps.py.outputs.python-path }}}}" && echo "first on PATH"
                  python -m pip --version | cut -d' ' -f1
          wrong:
            runs-on: ubuntu-latest
            steps:
              - uses: {SETUP_PYTHON}
                with:
                  python-version: '2.7'
    """, Push())
    assert result.job("j").steps[1].log == ["False", "isolated", "first on PATH", "pip"]
    assert result.job("wrong").conclusion == "failure"
    assert "Version 2.7 with arch x64 not found in the simulation" in result.job("wrong").steps[0].error


def _wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel (what `python -m build --wheel` produces, by hand)."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = directory / f"{dist}-py3-none-any.whl"
    module = name.replace("-", "_")
    files = {
        f"{module}/__init__.py": f"VERSION = {version!r}\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{p},,\n" for p in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for p, text in files.items():
            z.writestr(p, text)
        z.writestr(f"{dist}.dist-info/RECORD", record)
    return path


def test_wheelhouse_and_pip_cache_key(tmp_path, repo, shared_pip_cache, venv_template):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "ghsim-probe", "1.0.0")
    sim = Simulator(tmp_path / "sim", wheelhouse=wheels, pip_cache=shared_pip_cache, venv_template=venv_template)
    repo.commit({"requirements.txt": "ghsim-probe==1.0.0\n"})
    wf = repo.workflow(f"""
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: {CHECKOUT}
              - id: py
                uses: {SETUP_PYTHON}
                with:
                  python-version: '3.11'
                  cache: pip
              - run: |
                  python -m pip install --no-index --disable-pip-version-check -q -r requirements.txt
                  python -c "import ghsim_probe; print(ghsim_probe.VERSION)"
                  echo "hit=${{{{ steps.py.outputs.cache-hit }}}}"
    """)
    first = sim.run(wf, repo.path, Push())
    first.assert_success()
    assert first.job("j").steps[2].log == ["1.0.0", "hit=false"]
    second = sim.run(wf, repo.path, Push())
    assert second.job("j").steps[2].log == ["1.0.0", "hit=true"]
    events = [(e.action, e.hit) for e in first.cache_events + second.cache_events]
    assert events == [("restore", "miss"), ("save", "saved"), ("restore", "exact")]
    assert first.cache_events[0].key.startswith("setup-python-Linux-x64-ubuntu24-python-3.11.")
    no_reqs = repo.workflow(f"""
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: {SETUP_PYTHON}
                with: {{python-version: '3.11', cache: pip}}
    """, name="nocheckout.yml")
    r = sim.run(no_reqs, repo.path, Push())
    assert "make sure you have checked out the target repository" in r.job("j").steps[0].error


def test_actions_cache_keys_restore_keys_and_branch_scope(sim, repo):
    wf = repo.workflow(f"""
        on: [push, pull_request]
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - uses: {CHECKOUT}
              - id: c
                uses: {CACHE}
                with:
                  path: |
                    ~/.cache/thing
                    build
                  key: thing-${{{{ hashFiles('lock.txt') }}}}
                  restore-keys: thing-
              - run: |
                  echo "hit=${{{{ steps.c.outputs.cache-hit }}}} matched=${{{{ steps.c.outputs.cache-matched-key != '' }}}}"
                  cat ~/.cache/thing/data build/out 2>/dev/null || echo "empty"
                  mkdir -p ~/.cache/thing build
                  echo "from $GITHUB_REF_NAME" > ~/.cache/thing/data
                  echo built > build/out
    """)
    repo.commit({"lock.txt": "v1\n"})
    first = sim.run(wf, repo.path, Push())
    assert first.job("j").steps[2].log == ["hit= matched=false", "empty"]
    second = sim.run(wf, repo.path, Push())
    assert second.job("j").steps[2].log == ["hit=true matched=true", "from main", "built"]
    repo.commit({"lock.txt": "v2\n"})
    third = sim.run(wf, repo.path, Push())
    assert third.job("j").steps[2].log == ["hit=false matched=true", "from main", "built"]
    assert [(e.action, e.hit) for e in third.cache_events] == [("restore", "partial"), ("save", "saved")]
    # a pull request reads the base branch's caches; its own saves stay in its ref's scope
    repo.branch("feature")
    repo.commit({"lock.txt": "v3\n"})
    pr = sim.run(wf, repo.path, PullRequest(base="main", head="feature"))
    assert pr.job("j").steps[2].log[0] == "hit=false matched=true"
    other = sim.run(wf, repo.path, Push("feature"))
    assert other.job("j").steps[2].log == ["hit=false matched=true", "from main", "built"]


def test_event_payload_and_default_variables(run_workflow):
    result = run_workflow("""
        on: push
        jobs:
          j:
            runs-on: ubuntu-latest
            steps:
              - run: cat "$GITHUB_EVENT_PATH"
    """, Push())
    payload = json.loads("\n".join(result.job("j").steps[0].log))
    assert payload["ref"] == "refs/heads/main" and payload["after"] == result.github["sha"]
    assert payload["head_commit"]["message"] == "workflow ci.yml"
    assert payload["repository"]["full_name"] == "octo-org/octo-repo"
