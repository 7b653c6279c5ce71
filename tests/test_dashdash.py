"""A spec whose name starts with '-' is never read as an option by a generated command.

Reproduction: a spec named `-churn.yaml` compiled, but every generated command
(`mlspec gate -churn.yaml`, the CI's `mlspec validate … "$MLSPEC_SPEC"`, the DAGs, the lock)
handed it to click as an option.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = """\
mlspec: 1
project: {name: demo}
data:
  rows:
    uri: -rows.csv
    format: csv
    freshness: 30d
    schema: {a: {type: integer}}
  live:
    uri: -live.csv
    format: csv
    schema: {a: {type: integer}}
training:
  run: python job.py model.bin m
  needs: [data.rows]
  outputs: {model: model.bin}
validation:
  run: python job.py eval.json 0.9
  metrics: eval.json
  gates: [{metric: auc, min: 0.5}]
registry: {backend: local}
monitoring:
  reference: data.rows
  current: data.live
  schema_checks: true
  drift: [{columns: [a], method: psi, threshold: 0.5}]
  alerts: [{channel: slack, to: "#a"}]
retraining: {on: [data_drift], cooldown: 1h}
"""


def mlspec(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_every_generated_command_puts_the_spec_after_dashdash(tmp_path: Path) -> None:
    (tmp_path / "-demo.yaml").write_text(SPEC)
    (tmp_path / "job.py").write_text("import json, sys\nopen(sys.argv[1], 'w').write(json.dumps({'auc': float(sys.argv[2])}) "
                                      "if sys.argv[1].endswith('.json') else sys.argv[2])\n")
    (tmp_path / "-rows.csv").write_text("a\n1\n2\n")
    (tmp_path / "-live.csv").write_text("a\n1\n2\n")
    r = mlspec(tmp_path, "compile", "--", "-demo.yaml")
    assert r.returncode == 0, r.stderr

    commands = []
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".yml", ".json", ".md"):
            text = re.sub(r'\\?"(\$[A-Za-z_]+)\\?"', r"\1", path.read_text())
            commands += re.findall(r"mlspec (?:gate|register|check-data|drift|freshness|performance|"
                                   r"retrain-trigger|validate|compile|eval|report-run|registry fetch)\b[^'\"`\\\n]*", text)
    assert len(commands) > 10
    for command in commands:
        words = shlex.split(command)
        if len(words) <= 2 + (words[1] == "registry"):
            continue                     # prose naming a command ("`mlspec report-run`"), not a call
        assert "--" in words, command
        after = words[words.index("--") + 1:]
        assert not {"-demo.yaml", "-live.csv"} & set(words[:words.index("--")]), command
        assert after and after[0] in ("-demo.yaml", "$MLSPEC_SPEC", "SPEC"), command

    # And they run: the pipeline (with its data check, gate and register) and the monitoring.
    r = mlspec(tmp_path, "run", "--", "-demo.yaml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^gate +ok", r.stdout, re.M) and re.search(r"^register +ok", r.stdout, re.M)
    assert re.search(r"^monitor\.schema +ok", r.stdout, re.M) and re.search(r"^retrain +ok", r.stdout, re.M)
    assert mlspec(tmp_path, "validate", "--", "-demo.yaml").returncode == 0
    assert mlspec(tmp_path, "compile", "--check", "--", "-demo.yaml").returncode == 0
