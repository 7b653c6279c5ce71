"""`mlspec store restore-state|save-state`: the monitoring state where no disk is shared (Airflow
with isolated tasks). Checks run side by side on different machines: each takes back only the
files it changed, never another machine's older copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.runtime.conftest import SPEC


def _machine(root: Path, name: str) -> Path:
    """A fresh folder holding the spec (its store: $MLSPEC_STORAGE, one folder all of them reach)."""
    folder = root / name
    folder.mkdir()
    (folder / "mlproject.yaml").write_text(SPEC, encoding="utf-8")
    return folder


def test_state_moves_through_the_store_and_only_changes_go_back(tmp_path, mlspec, monkeypatch):
    store = tmp_path / "store"
    store.mkdir()
    monkeypatch.setenv("MLSPEC_STORAGE", str(store))
    a, b, c = (_machine(tmp_path, n) for n in ("a", "b", "c"))
    # Machine a: nothing in the store yet; it records a drift result and takes it back.
    monkeypatch.chdir(a)
    r = mlspec("store", "restore-state", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.json["files"] == []
    (a / ".mlspec/monitoring/drift.json").write_text(json.dumps({"status": "finding", "n": 1}))
    assert mlspec("store", "save-state", "--format", "json").json["files"] == ["drift.json"]
    # Machines b and c start from the same state; b writes performance, c writes a newer drift.
    for m in (b, c):
        monkeypatch.chdir(m)
        assert mlspec("store", "restore-state", "--format", "json").json["files"] == ["drift.json"]
    (b / ".mlspec/monitoring/performance.json").write_text(json.dumps({"status": "ok"}))
    (c / ".mlspec/monitoring/drift.json").write_text(json.dumps({"status": "ok", "n": 2}))
    monkeypatch.chdir(c)
    assert mlspec("store", "save-state", "--format", "json").json["files"] == ["drift.json"]
    monkeypatch.chdir(b)   # b's drift.json is the old copy it restored: it must not overwrite c's
    assert mlspec("store", "save-state", "--format", "json").json["files"] == ["performance.json"]
    # A fourth machine sees both changes.
    shutil.rmtree(a / ".mlspec")
    monkeypatch.chdir(a)
    r = mlspec("store", "restore-state", "--format", "json")
    assert sorted(r.json["files"]) == ["drift.json", "performance.json"]
    assert json.loads((a / ".mlspec/monitoring/drift.json").read_text()) == {"status": "ok", "n": 2}
    restored = json.loads((a / ".mlspec/monitoring/.restored.json").read_text())
    assert sorted(restored) == ["drift.json", "performance.json"]
    assert mlspec("store", "save-state", "--format", "json").json["files"] == []     # nothing changed here
