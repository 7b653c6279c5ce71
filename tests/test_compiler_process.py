"""What `mlspec validate` and `mlspec compile` set for their own process, and what they do not."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "examples" / "churn" / "mlproject.yaml"

PLUGIN = '''\
import os

class Plugin:
    def new_schema_validator(self, schema, schema_type, schema_type_path, schema_kind, config, plugin_settings):
        with open(os.environ["MARKER"], "a") as fh:
            fh.write(f"{schema_type_path.module}\\n")
        return None, None, None

plugin = Plugin()
'''


@pytest.fixture()
def plugin_path(tmp_path: Path) -> Path:
    """A pydantic plugin installed the way plugins are: a distribution whose entry point in the
    `pydantic` group names it. It records the module of every model pydantic builds."""
    site = tmp_path / "site"
    (site / "spy_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "spy_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: spy-plugin\nVersion: 1.0\n")
    (site / "spy_plugin-1.0.dist-info" / "entry_points.txt").write_text("[pydantic]\nspy = spy_plugin:plugin\n")
    (site / "spy_plugin.py").write_text(PLUGIN)
    return site


def _run(argv: list[str], site: Path, marker: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MARKER": str(marker),
           "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_compiler_does_not_show_specs_to_pydantic_plugins(plugin_path: Path, tmp_path: Path) -> None:
    marker = tmp_path / "seen.txt"
    # The plugin is live: a program's own model reaches it.
    own = _run([sys.executable, "-c", "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int\n"],
               plugin_path, marker, tmp_path)
    assert own.returncode == 0, own.stderr
    assert marker.read_text().split() == ["__main__"]
    marker.unlink()
    for command in (["validate", str(SPEC)], ["compile", str(SPEC), "--check"]):
        done = _run([sys.executable, "-m", "mlspec", *command], plugin_path, marker, tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
        assert not marker.exists(), f"mlspec {command[0]} showed its models to a plugin: {marker.read_text()}"


def test_the_compiler_collects_cycles_rarely_and_leaves_its_children_to_python(tmp_path: Path) -> None:
    """The thresholds are the compiler's own: the commands that run user code keep Python's."""
    probe = ("import gc, sys\nfrom mlspec.cli import _compiler_process\nbefore = gc.get_threshold()\n"
             "_compiler_process()\nprint(before, gc.get_threshold(), gc.get_freeze_count() > 0)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split(")")
    assert out[0].strip() == "(700, 10, 10"
    assert out[1].strip() == "(100000, 50, 100"
    assert out[2].strip() == "True"
