"""Spec → Plan: references, interpolation, graph order, cycles."""

from __future__ import annotations

import shlex

import pytest

from mlspec import diagnostics as dx
from mlspec.compiler.interpolate import InterpolationError, expand, tokenize
from mlspec.language.loader import load_text
from mlspec.compiler.resolve import resolve_plan
from mlspec.language.validate import validate_spec


def plan_of(text: str):
    doc, diags = load_text(text)
    assert doc is not None, diags
    spec, diags = validate_spec(doc)
    assert spec is not None, diags
    return resolve_plan(spec, doc)


PIPELINE = """mlspec: 1
project: {name: demo}
params: {n: 3, name: "it's; rm -rf /", flag: true, rate: 0.5}
data:
  raw:
    uri: data/raw file.csv
    version: v1
    schema: {a: {type: integer}}
  holdout: {uri: s3://b/holdout.csv}
steps:
  zeta: {run: python z.py, needs: [data.raw]}
  alpha: {run: "python a.py --n ${params.n} --name ${params.name} --in ${data.raw.uri} --v ${data.raw.version}", needs: [steps.zeta], outputs: [out/a.csv]}
training:
  run: python train.py --flag ${params.flag} --rate ${params.rate} --home ${HOME} $$USER $${literal}
  needs: [steps.alpha]
  seed: 7
  outputs: {model: models/m.pkl, metrics: metrics/train.json}
validation:
  run: python eval.py --model ${training.outputs.model} --out ${validation.metrics} --data ${data.holdout.uri}
  needs: [data.holdout]
  metrics: metrics/eval.json
  gates: [{metric: auc, min: 0.8}]
  approval: {required: true}
registry: {backend: local}
"""


def test_pipeline_order_and_needs() -> None:
    plan, diags = plan_of(PIPELINE)
    assert diags == []
    assert [n.id for n in plan.nodes] == [
        "check.raw", "step.zeta", "step.alpha", "train", "evaluate", "gate", "approve", "register"]
    needs = {n.id: n.needs for n in plan.nodes}
    assert needs["step.zeta"] == ("check.raw",)
    assert needs["step.alpha"] == ("check.raw", "step.zeta")  # interpolating data.raw waits for its check
    assert needs["evaluate"] == ("train",)                    # implicit; holdout has no contract
    assert needs["register"] == ("approve",)


def test_interpolated_values_are_shell_quoted() -> None:
    plan, _ = plan_of(PIPELINE)
    alpha = plan.node("step.alpha")
    assert shlex.split(alpha.command) == ["python", "a.py", "--n", "3", "--name", "it's; rm -rf /",
                                          "--in", "data/raw file.csv", "--v", "v1"]
    assert alpha.params == ("n", "name") and alpha.data == ("raw",)
    train = plan.node("train")
    assert "--flag true --rate 0.5 --home ${HOME} $$USER ${literal}" in train.command
    assert dict(train.env)["MLSPEC_SEED"] == "7"
    # Direct inputs: what register itself reads (its needs, gate/approve, write nothing) ...
    assert plan.node("register").inputs == ("models/m.pkl", "metrics/eval.json")
    # ... and, computed on demand, everything upstream writes (what an empty machine must restore).
    assert set(plan.upstream_inputs("register")) == {"models/m.pkl", "metrics/eval.json", "out/a.csv",
                                                     "metrics/train.json"}
    assert plan.node("train").inputs == ("out/a.csv",)


def test_order_does_not_depend_on_yaml_key_order() -> None:
    swapped = PIPELINE.replace("  zeta: {run: python z.py, needs: [data.raw]}\n", "")
    swapped = swapped.replace("steps:\n", "steps:\n  zeta: {run: python z.py, needs: [data.raw]}\n", 1)
    a, _ = plan_of(PIPELINE)
    b, _ = plan_of(swapped.replace("steps:\n  zeta", "steps:\n  zeta", 1))
    assert a.nodes == b.nodes


def test_cycle_is_reported_with_its_whole_path_at_the_closing_reference() -> None:
    text = "mlspec: 1\nproject: {name: demo}\nsteps:\n  a: {run: x, needs: [steps.b]}\n  b: {run: y, needs: [steps.a]}\n"
    plan, diags = plan_of(text)
    assert plan is None
    (d,) = diags
    assert d.code == dx.DEPENDENCY_CYCLE
    assert "steps.a → steps.b → steps.a" in d.message or "steps.b → steps.a → steps.b" in d.message
    assert d.span.line in (4, 5)


def test_training_needing_validation_is_a_cycle_through_the_implicit_edge() -> None:
    text = ("mlspec: 1\nproject: {name: demo}\ntraining:\n  run: t\n  needs: [validation]\n  outputs: {model: m}\n"
            "validation: {run: e, metrics: m.json}\n")
    plan, diags = plan_of(text)
    assert [d.code for d in diags] == [dx.DEPENDENCY_CYCLE]
    assert diags[0].path == ("training", "needs", 0)


@pytest.mark.parametrize(("command", "code"), [
    ("python t.py ${params.nope}", dx.UNKNOWN_INTERPOLATION),
    ("python t.py ${data.raw.version}", dx.UNKNOWN_INTERPOLATION),
    ("python t.py ${params.n", dx.BAD_INTERPOLATION),
    ("python t.py ${}", dx.BAD_INTERPOLATION),
])
def test_bad_interpolations(command: str, code: str) -> None:
    text = (f"mlspec: 1\nproject: {{name: demo}}\nparams: {{n: 1}}\ndata: {{raw: {{uri: r.csv}}}}\n"
            f"training:\n  run: '{command}'\n  outputs: {{model: m}}\n")
    plan, diags = plan_of(text)
    assert [d.code for d in diags] == [code]
    assert diags[0].span.line == 6 and diags[0].span.column > 8  # points inside the string


def test_tokenize_leaves_the_shell_alone() -> None:
    assert expand("echo ${HOME} $PATH ${X:-d} $${params.n}", lambda r: 1) == "echo ${HOME} $PATH ${X:-d} ${params.n}"
    with pytest.raises(InterpolationError):
        tokenize("echo ${params.n")
    assert [t.ref for t in tokenize("a ${params.n} b") if t.ref] == ["params.n"]


def test_monitoring_graph_and_retrain_trigger() -> None:
    text = PIPELINE + """data:
""" if False else PIPELINE.replace("  holdout: {uri: s3://b/holdout.csv}\n", "  holdout: {uri: s3://b/holdout.csv}\n  live: {uri: live.csv, freshness: 2h}\n") + """monitoring:
  reference: data.raw
  current: data.live
  drift: [{columns: [a], method: psi, threshold: 0.2}]
  schema_checks: true
  alerts: [{channel: slack, to: "#ml"}]
retraining: {on: [data_drift, freshness], cooldown: 12h}
"""
    plan, diags = plan_of(text)
    assert diags == []
    assert [n.id for n in plan.monitor_nodes] == ["monitor.schema", "monitor.freshness", "monitor.drift", "retrain"]
    assert plan.node("retrain").needs == ("monitor.drift", "monitor.freshness")
    assert plan.node("monitor.schema").command == "mlspec check-data --file=live.csv -- mlproject.yaml raw"
    assert plan.retraining.cooldown_seconds == 12 * 3600


def test_validation_outputs_are_evaluation_outputs() -> None:
    plan, diags = plan_of("""mlspec: 1
project: {name: demo}
training: {run: python t.py, outputs: {model: m.pkl}}
validation:
  run: python e.py
  metrics: metrics/eval.json
  outputs: [plots/roc.png, reports/errors.csv]
  gates: [{metric: auc.test, min: 0.5}]
""")
    assert not [d for d in diags if d.is_error], diags
    assert plan.eval_outputs == ("plots/roc.png", "reports/errors.csv")
    assert plan.node("evaluate").outputs == ("metrics/eval.json", "plots/roc.png", "reports/errors.csv")
    assert plan.gates[0].describe() == "auc.test >= 0.5"
