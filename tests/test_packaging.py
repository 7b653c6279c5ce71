"""The built wheel is complete: an installed mlspec finds its templates and schemas.

In the repository, templates/ and schemas/ sit at the top level; the wheel carries them inside
the package (``force-include`` in pyproject.toml) and ``mlspec._resources.resource_dir`` must
find them there. An editable install cannot show a missing force-include, so this test builds
the wheel, installs it into a fresh venv and looks from the installed copy.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA_DIRS = ("templates", "schemas")

pytestmark = pytest.mark.slow

# Runs with the venv's python, from a neutral directory, so that `import mlspec` can only find
# the installed copy (the checkout's editable install is visible through
# --system-site-packages, but the venv's own site-packages comes first).
PROBE = r"""
import hashlib, json, sys
from pathlib import Path
import mlspec
from mlspec import _resources
out = {"mlspec_file": mlspec.__file__, "dirs": {}}
for name in sys.argv[1:]:
    d = _resources.resource_dir(name)
    out["dirs"][name] = {
        "path": str(d),
        "files": {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in sorted(d.rglob("*")) if p.is_file()},
    }
print(json.dumps(out))
"""


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600, **kw)
    assert r.returncode == 0, f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _repo_files(name: str) -> dict[str, str]:
    root = REPO / name
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    # Without isolation when the build backend is installed (fast, offline: hatchling is in the
    # `test` extra); otherwise let `build` fetch pyproject's build-system requirements.
    isolation = [] if importlib.util.find_spec("hatchling") is None else ["--no-isolation"]
    _run([sys.executable, "-m", "build", "--wheel", *isolation, "-o", str(out), str(REPO)], cwd=out)
    wheels = list(out.glob("mlspec_compiler-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wheel-venv")
    env_dir = root / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    py = env_dir / "bin" / "python"
    # The outer interpreter's pip installs into the venv (no pip bootstrap in the venv: faster).
    # --ignore-installed: the checkout's editable mlspec is visible through the system site-packages.
    _run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "--ignore-installed",
          "--no-compile", "--disable-pip-version-check", str(wheel)])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    probe = _run([str(py), "-c", PROBE, *DATA_DIRS], cwd=root, env=env)
    return {"env_dir": env_dir.resolve(), **json.loads(probe.stdout.strip().splitlines()[-1])}


def test_mlspec_imports_from_the_installed_wheel(installed):
    mlspec_file = Path(installed["mlspec_file"]).resolve()
    assert mlspec_file.is_relative_to(installed["env_dir"]), f"imported {mlspec_file}, not the installed wheel"
    assert not mlspec_file.is_relative_to(REPO)


@pytest.mark.parametrize("name", DATA_DIRS)
def test_wheel_ships_data_dir_identically(installed, name):
    package_dir = Path(installed["mlspec_file"]).resolve().parent
    got = installed["dirs"][name]
    assert Path(got["path"]).resolve() == package_dir / name, "resource_dir must point inside the installed package"
    assert got["files"], f"{name}/ is empty in the installed package"
    expected = _repo_files(name)
    assert expected, f"the repository's {name}/ is empty"
    missing = sorted(set(expected) - set(got["files"]))
    assert not missing, f"files of {name}/ missing from the wheel: {missing}"
    changed = sorted(p for p in expected if got["files"][p] != expected[p])
    assert not changed, f"files of {name}/ differ in the wheel: {changed}"
