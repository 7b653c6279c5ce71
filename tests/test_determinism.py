"""Compilation is a pure function: same spec, same bytes — whatever the key order,
PYTHONHASHSEED, working directory or how the spec path was typed."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mlspec.output.encoders import yaml_dump

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.parent.name for p in ROOT.glob("examples/*/mlproject.yaml"))


def tree_digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def shuffled(value, rng: random.Random):
    """The same data with every mapping's keys in a random order (lists keep theirs)."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def compile_copy(example: str, dest: Path, *, seed: str, text: str | None = None, cwd: Path | None = None,
                 absolute: bool = False) -> dict[str, str]:
    src = ROOT / "examples" / example
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".mlspec", "__pycache__"))
    generated = [dest / name for name in (".github", "airflow", "docker", "monitoring", "k8s", ".dockerignore")]
    generated += [*dest.glob("MODEL_CARD*.md"), *dest.glob("mlspec*.lock.json"), *dest.glob(".mlspec-manifest*.json")]
    for target in generated:
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    if text is not None:
        (dest / "mlproject.yaml").write_text(text, encoding="utf-8")
    spec = dest / "mlproject.yaml"
    arg = str(spec) if absolute else os.path.relpath(spec, cwd or dest.parent)
    env = dict(os.environ, PYTHONHASHSEED=seed)
    result = subprocess.run([sys.executable, "-m", "mlspec", "compile", arg], cwd=cwd or dest.parent,
                            env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return {k: v for k, v in tree_digest(dest).items() if not k.startswith(("churn/", "data/", "monitoring/current"))}


@pytest.mark.parametrize("example", EXAMPLES)
def test_same_bytes_across_runs_seeds_and_cwd(example: str, tmp_path: Path) -> None:
    base = compile_copy(example, tmp_path / "a", seed="0")
    assert compile_copy(example, tmp_path / "b", seed="12345") == base
    assert compile_copy(example, tmp_path / "c", seed="1", cwd=tmp_path, absolute=True) == base


@pytest.mark.parametrize("example", EXAMPLES)
def test_key_order_does_not_matter(example: str, tmp_path: Path) -> None:
    """Shuffled mappings change the spec's bytes (and so its hash, which the lock, labels and
    model card record) but nothing else."""
    from mlspec.language.loader import load_text

    compile_copy(example, tmp_path / "a", seed="0")
    original = load_text((ROOT / "examples" / example / "mlproject.yaml").read_text())[0].data
    text = yaml_dump(shuffled(original, random.Random(7)))
    compile_copy(example, tmp_path / "b", seed="0", text=text)
    a, b = normalised(tmp_path / "a"), normalised(tmp_path / "b")
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def normalised(folder: Path) -> dict[str, str]:
    spec_hash = hashlib.sha256((folder / "mlproject.yaml").read_bytes()).hexdigest()
    out = {}
    for rel in tree_digest(folder):
        if rel == "mlproject.yaml" or rel.startswith(".mlspec-manifest") or rel.startswith(("churn/", "data/", "monitoring/current")):
            continue
        if rel.endswith((".png", ".html", ".sha256")):   # example docs (a report screenshot), not generated
            continue
        text = (folder / rel).read_text(encoding="utf-8")
        text = "\n".join(line for line in text.splitlines() if "mlspec-sha256:" not in line)
        out[rel] = text.replace(spec_hash, "<spec-sha256>").replace(spec_hash[:12], "<spec-sha256>")
    return out
