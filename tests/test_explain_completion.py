"""`mlspec explain CODE` and shell completion through click's `_MLSPEC_COMPLETE` mechanism."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlspec.diagnostics import CODES

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlspec", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_explain_prints_title_explanation_example_and_docs_link() -> None:
    result = run("explain", "MS201")
    assert result.returncode == 0, result.stderr
    info = CODES["MS201"]
    assert result.stdout.startswith(f"MS201: {info.title} (error)\n")
    assert info.explanation in " ".join(result.stdout.split())
    assert "    validation:\n      needs: [data.holdot]" in result.stdout
    assert "docs/diagnostics.md#ms201" in result.stdout


def test_explain_accepts_lowercase_and_bare_numbers() -> None:
    assert run("explain", "ms305").stdout == run("explain", "305").stdout == run("explain", "MS305").stdout


def test_explain_json() -> None:
    data = json.loads(run("explain", "MS503", "--format", "json").stdout)
    assert data["code"] == "MS503" and data["title"] == CODES["MS503"].title
    assert data["help_uri"].endswith("#ms503")


def test_unknown_code_exits_1_with_did_you_mean() -> None:
    result = run("explain", "MS2O1")
    assert result.returncode == 1 and result.stdout == ""
    assert "error[MS635]: unknown diagnostic code 'MS2O1'" in result.stderr
    assert "did you mean 'MS201'?" in result.stderr
    assert "Traceback" not in result.stderr
    data = json.loads(run("explain", "nonsense", "--format", "json").stdout)
    assert data["diagnostics"][0]["code"] == "MS635"


def test_explain_without_code_lists_every_code() -> None:
    lines = run("explain").stdout.splitlines()
    assert [line.split()[0] for line in lines] == list(CODES)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_is_produced(shell: str) -> None:
    result = run(env={"_MLSPEC_COMPLETE": f"{shell}_source"})
    assert result.returncode == 0, result.stderr
    assert "_MLSPEC_COMPLETE" in result.stdout
    assert {"bash": "complete -o nosort -F _mlspec_completion mlspec", "zsh": "compdef _mlspec_completion mlspec",
            "fish": "complete --no-files --command mlspec"}[shell] in result.stdout


def test_completing_com_offers_compile() -> None:
    result = run(env={"_MLSPEC_COMPLETE": "bash_complete", "COMP_WORDS": "mlspec com", "COMP_CWORD": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["plain,compile"]
    result = run(env={"_MLSPEC_COMPLETE": "zsh_complete", "COMP_WORDS": "mlspec ex", "COMP_CWORD": "1"})
    assert result.stdout.splitlines()[:2] == ["plain", "explain"]
    result = run(env={"_MLSPEC_COMPLETE": "bash_complete", "COMP_WORDS": "mlspec diff --format ",
                      "COMP_CWORD": "3"})
    assert result.stdout.split() == ["plain,text", "plain,json", "plain,markdown"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completes_through_the_generated_script(tmp_path: Path) -> None:
    """Source the script in a real bash and let its completion function ask mlspec."""
    launcher = tmp_path / "mlspec"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} -m mlspec \"$@\"\n")
    launcher.chmod(0o755)
    script = run(env={"_MLSPEC_COMPLETE": "bash_source"}).stdout
    test = (f'{script}\nCOMP_WORDS=(mlspec com); COMP_CWORD=1; _mlspec_completion mlspec\n'
            'printf "%s\\n" "${COMPREPLY[@]}"\n')
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", test], capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.split() == ["compile"], result.stderr


def test_review_doc_shows_the_completion_commands_and_the_hooks() -> None:
    import yaml

    text = (ROOT / "docs" / "review.md").read_text(encoding="utf-8")
    for shell in ("bash", "zsh", "fish"):
        assert f"_MLSPEC_COMPLETE={shell}_source mlspec" in text
    for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text()):
        assert f"- id: {hook['id']}" in text
    assert "mlspec diff" in (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
