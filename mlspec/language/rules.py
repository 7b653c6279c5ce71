"""Semantic rules beyond types (docs/diagnostics.md, MS3xx): phase 3 of the compiler.

Each rule is a small function over the valid Spec that yields diagnostics positioned at
the offending value. They run after references resolve, and all of them run every time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
import posixpath
import re
from typing import Any

from mlspec import diagnostics as dx
from mlspec.language import secrets_scan
from mlspec.diagnostics import Diagnostic, Severity, SpecPath
from mlspec.events import event
from mlspec.language.types import CHECKABLE_FORMATS, CHECKABLE_SCHEMES, FORMAT_OF_EXTENSION, uri_scheme
from mlspec.naming import strip_namespace
from mlspec.suggest import did_you_mean
from mlspec.language.document import Document
from mlspec.language.models import Spec
from mlspec.language.validate import strip_extensions

Rule = Callable[[Spec, Document], Iterator[Diagnostic]]
RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    RULES.append(fn)
    return fn


def _d(doc: Document, code: str, message: str, path: SpecPath, hint: str | None = None,
       severity: Severity | None = None, key: bool = False) -> Diagnostic:
    sev = severity or dx.CODES[code].severity
    return Diagnostic(code, message, severity=sev, span=doc.span(path, key=key), path=path, hint=hint)


def check_rules(spec: Spec, doc: Document) -> list[Diagnostic]:
    diags: list[Diagnostic] = []
    for fn in RULES:
        diags.extend(fn(spec, doc))
    return dx.sort_diagnostics(diags)


# --------------------------------------------------------------------------- text hygiene


_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_LINE_BREAKS = "\x85\u2028\u2029"
# Control characters (category Cc is exactly U+0000-U+001F and U+007F-U+009F) but the newline,
# bidirectional controls and unusual line breaks: one regex scan per string, not a Python loop.
_HIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f" + _BIDI + _LINE_BREAKS + "]")
# Either of the two problems, in one scan: almost every string has neither.
_SUSPECT = re.compile(r"\$\{\{|\{\{|\{%|\{#|\}\}|[\x00-\x09\x0b-\x1f\x7f-\x9f" + _BIDI + _LINE_BREAKS + "]")


class _Leaves:
    """Every key and string value, and every float, of the spec without extensions, that the
    rules below share (three walks cost a tenth of a second at 1,000 steps). Taken from the
    loader's list when the spec has no extension to leave out, else collected in one walk."""

    __slots__ = ("data", "floats", "strings")

    def __init__(self, data: Any, loaded: Sequence[tuple[SpecPath, Any, bool]] | None = None) -> None:
        self.data = data
        if loaded is not None:
            self.strings: list[tuple[SpecPath, str, bool]] = [e for e in loaded if type(e[1]) is str]
            self.floats: list[tuple[SpecPath, float]] = [(p, v) for p, v, _ in loaded if type(v) is float]
            return
        self.strings = []
        self.floats = []
        strings, floats = self.strings, self.floats
        stack: list[tuple[SpecPath, Any]] = [((), data)]
        while stack:
            here, node = stack.pop()
            if isinstance(node, dict):
                for k, v in node.items():
                    path = (*here, k)
                    strings.append((path, k, True))
                    if isinstance(v, str):
                        strings.append((path, v, False))
                    elif isinstance(v, (dict, list)):
                        stack.append((path, v))
                    elif isinstance(v, float):
                        floats.append((path, v))
            elif isinstance(node, list):
                for i, v in enumerate(node):
                    if isinstance(v, str):
                        strings.append(((*here, i), v, False))
                    elif isinstance(v, (dict, list)):
                        stack.append(((*here, i), v))
                    elif isinstance(v, float):
                        floats.append(((*here, i), v))


_last_leaves: _Leaves | None = None


def _leaves(doc: Document) -> _Leaves:
    global _last_leaves
    data = strip_extensions(doc.data)
    if _last_leaves is None or _last_leaves.data is not data:
        # Nothing was stripped (the data is the loaded data itself): the loader's list is it.
        _last_leaves = _Leaves(data, doc.leaves if data is doc.data else None)
    return _last_leaves


@rule
def text_hygiene(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    """One walk over every key and string value for what must never reach a generated file:
    template syntax that GitHub, Airflow or Prometheus would evaluate (`${{`, `{{`, `{%`, `{#`),
    and hidden characters written as escapes in quoted YAML (`"\\e[31m"`, `"\\u202e"`), which
    the loader's byte scan never saw."""
    import unicodedata

    from mlspec.output.encoders import find_template_syntax

    suspect = _SUSPECT.search
    for path, value, is_key in _leaves(doc).strings:
        if not suspect(value):
            continue
        token = find_template_syntax(value)
        hidden = _HIDDEN.search(value)
        where = dx.format_path(path) or "the top level"
        if token:
            yield _d(doc, dx.TEMPLATE_SYNTAX, f"{token!r} in {'a key of ' if is_key else ''}{where} "
                     "would be evaluated as a template by the generated pipelines", path,
                     hint="remove it; in run commands write the value into a script file instead",
                     key=is_key)
        if hidden is not None:
            bad = hidden.group()
            name = unicodedata.name(bad, "control character")
            yield _d(doc, dx.FORBIDDEN_CHARACTER, f"{'key' if is_key else 'value'} at {where} "
                     f"contains U+{ord(bad):04X} {name}", path,
                     hint="remove it: control, bidirectional and unusual line-break characters make text "
                          "display differently from what runs", key=is_key)


@rule
def representable_numbers(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    """Numbers land in PromQL, promtool tests, YAML and Python, and the generated alert tests
    probe just above and below each bound (± a tenth): a subnormal such as 5e-324 leaves no
    room for that and 1e308 overflows. So a number is 0 or its magnitude lies in
    [1e-300, 1e300] — wherever it is written."""
    for path, node in _leaves(doc).floats:
        if node != 0 and not 1e-300 <= abs(node) <= 1e300:
            yield _d(doc, dx.OUT_OF_RANGE, f"{node!r} at {dx.format_path(path)} is too close to 0 or too large "
                     "for the generated rules and tests", path,
                     hint="use 0 or a number between 1e-300 and 1e300 in magnitude")


@rule
def credentials(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    """Every string of the spec, every section, through the one secrets detector."""
    found = secrets_scan.scan_strings(_leaves(doc).strings)
    for path, kind, is_key in sorted(found, key=lambda x: str(x[0])):
        text = path[-1] if is_key else doc.get(path)
        what = f"a key of {dx.format_path(path[:-1]) or 'the top level'}" if is_key else \
            f"the value of {dx.format_path(path)}"
        yield _d(doc, dx.CREDENTIAL_VALUE,
                 f"{what} looks like {kind} ({len(text) if isinstance(text, str) else 0} characters, not shown)",
                 path, key=is_key,
                 hint="move it to your platform's secret store and list its name in environment.secrets")


# --------------------------------------------------------------------------- gates and ranges


@rule
def gate_bounds(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    if not spec.validation:
        return
    seen: dict[tuple, int] = {}
    for i, g in enumerate(spec.validation.gates):
        path = ("validation", "gates", i)
        if g.min is None and g.max is None and g.baseline is None:
            yield _d(doc, dx.GATE_WITHOUT_BOUND, f"gate on {g.metric!r} has no min, max or baseline", path,
                     hint="add 'min:', 'max:' or 'baseline: production'")
        if g.min is not None and g.max is not None and g.min > g.max:
            yield _d(doc, dx.GATE_MIN_ABOVE_MAX, f"gate on {g.metric!r}: min {g.min:g} is above max {g.max:g}",
                     (*path, "min"))
        if g.max_regression is not None and g.baseline is None:
            yield _d(doc, dx.MISSING_FOR_FEATURE, f"gate on {g.metric!r} has max_regression but no baseline",
                     (*path, "max_regression"), hint="add 'baseline: production'")
        if g.baseline and spec.registry is None:
            yield _d(doc, dx.MISSING_FOR_FEATURE,
                     f"gate on {g.metric!r} compares with production, but there is no registry",
                     (*path, "baseline"), hint="add a 'registry:' section so the production model is known")
        key = (g.metric, g.min, g.max, g.baseline)
        if key in seen:
            yield _d(doc, dx.DUPLICATE_ENTRY, f"gate on {g.metric!r} repeats gate {seen[key]}", path)
        seen.setdefault(key, i)


@rule
def checkable_data(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    """A contract (or a drift check) on data the runtime cannot read fails every run: say so now."""
    mon = spec.monitoring
    drifted = {strip_namespace(r) for r in ((mon.reference, mon.current) if mon and mon.drift else ()) if r}
    for name, src in spec.data.items():
        if src.schema_ is None and name not in drifted:
            continue
        why = "has a column contract" if src.schema_ is not None else "is read by monitoring.drift"
        scheme = uri_scheme(src.uri)
        if scheme not in (None, "file") and scheme not in CHECKABLE_SCHEMES:
            yield _d(doc, dx.UNCHECKABLE_DATA, f"data.{name} {why}, but check-data and drift cannot read "
                     f"{scheme}:// data", ("data", name, "uri"),
                     hint="export it to Parquet on a file store (s3://, gs://, az://) or a local path the "
                          "pipeline writes")
            continue
        fmt = src.format or FORMAT_OF_EXTENSION.get(posixpath.splitext(src.uri.rstrip("/"))[1].lower())
        if fmt is None and src.uri.endswith("/"):
            continue                         # a folder: each file is read by its own extension
        if fmt not in CHECKABLE_FORMATS:
            where = ("data", name, "format") if src.format else ("data", name, "uri")
            shown = f"format {fmt!r}" if fmt else f"the format of {src.uri!r}"
            yield _d(doc, dx.UNCHECKABLE_DATA, f"data.{name} {why}, but check-data and drift cannot read "
                     f"{shown}", where,
                     hint="set `format:` to parquet, csv, jsonl or json" if fmt is None else
                          "export the data to parquet, csv, jsonl or json")


@rule
def ranges(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    for name, src in spec.data.items():
        for col, c in (src.schema_ or {}).items():
            path = ("data", name, "schema", col)
            if c.min is not None and c.max is not None and c.min > c.max:
                yield _d(doc, dx.MIN_ABOVE_MAX, f"column {col!r} of data.{name}: min {c.min:g} is above max {c.max:g}",
                         (*path, "min"))
            if c.values is not None and c.type not in ("category", "string", "integer"):
                yield _d(doc, dx.MISSING_FOR_FEATURE,
                         f"column {col!r} of data.{name}: 'values' needs type category, string or integer",
                         (*path, "values"))
            if (c.min is not None or c.max is not None) and c.type not in ("integer", "float"):
                yield _d(doc, dx.MISSING_FOR_FEATURE,
                         f"column {col!r} of data.{name}: min/max need type integer or float",
                         (*path, "min" if c.min is not None else "max"))
    sv = spec.serving
    if sv and sv.autoscaling and sv.autoscaling.min_replicas > sv.autoscaling.max_replicas:
        yield _d(doc, dx.MIN_ABOVE_MAX, "serving.autoscaling: min_replicas is above max_replicas",
                 ("serving", "autoscaling", "min_replicas"))
    if sv and sv.rollout.canary_steps:
        steps = sv.rollout.canary_steps
        if steps != sorted(set(steps)) or steps[-1] != 100:
            yield _d(doc, dx.OUT_OF_RANGE, "serving.rollout.canary_steps must rise strictly and end at 100",
                     ("serving", "rollout", "canary_steps"), hint="e.g. [10, 50, 100]")
        if sv.rollout.strategy != "canary":
            yield _d(doc, dx.MISSING_FOR_FEATURE, "canary_steps are set but the strategy is not canary",
                     ("serving", "rollout", "canary_steps"))
    mon = spec.monitoring
    if mon and mon.performance:
        pf = mon.performance
        if pf.min is None and pf.max is None:
            yield _d(doc, dx.GATE_WITHOUT_BOUND, "monitoring.performance has neither min nor max",
                     ("monitoring", "performance"), hint="add 'min:' (or 'max:' for an error metric)")
        if pf.min is not None and pf.max is not None and pf.min > pf.max:
            yield _d(doc, dx.MIN_ABOVE_MAX, "monitoring.performance: min is above max",
                     ("monitoring", "performance", "min"))
    yield from _custom_checks(spec, doc)
    if spec.llm:
        for i, ev in enumerate(spec.llm.evals):
            path = ("llm", "evals", i)
            if ev.min is not None and ev.max is not None and ev.min > ev.max:
                yield _d(doc, dx.MIN_ABOVE_MAX, f"eval {ev.name!r}: min is above max", (*path, "min"))
            if ev.scorer in ("rubric", "llm_judge") and not ev.rubric:
                yield _d(doc, dx.MISSING_FOR_FEATURE, f"eval {ev.name!r} uses scorer {ev.scorer!r} but has no rubric",
                         path, hint="add 'rubric: prompts/rubric.md'")
            if ev.min is None and ev.max is None:
                yield _d(doc, dx.GATE_WITHOUT_BOUND, f"eval {ev.name!r} has neither min nor max", path)
        yield from _llm_evals(spec, doc)


def _custom_checks(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    names: dict[str, int] = {}
    for i, check in enumerate(spec.monitoring.checks if spec.monitoring else ()):
        path = ("monitoring", "checks", i)
        if check.name in names:
            yield _d(doc, dx.DUPLICATE_ENTRY, f"check {check.name!r} is also defined at "
                     f"monitoring.checks[{names[check.name]}]", (*path, "name"), hint="every check has its own name")
        names.setdefault(check.name, i)
        metrics: dict[str, int] = {}
        for j, b in enumerate(check.bounds):
            bpath = (*path, "bounds", j)
            if b.min is None and b.max is None:
                yield _d(doc, dx.GATE_WITHOUT_BOUND, f"check {check.name!r}: the bound on {b.metric!r} has neither "
                         "min nor max", bpath, hint="add 'min:' or 'max:'")
            elif b.min is not None and b.max is not None and b.min > b.max:
                yield _d(doc, dx.MIN_ABOVE_MAX, f"check {check.name!r}: min of {b.metric!r} is above its max",
                         (*bpath, "min"))
            if b.metric in metrics:
                yield _d(doc, dx.DUPLICATE_ENTRY, f"check {check.name!r} bounds {b.metric!r} twice (also "
                         f"bounds[{metrics[b.metric]}])", (*bpath, "metric"),
                         hint="give one bound both min and max")
            metrics.setdefault(b.metric, j)


# --------------------------------------------------------------------------- data


@rule
def drift_columns(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    mon = spec.monitoring
    if not mon:
        return
    if mon.drift and not (mon.reference and mon.current):
        missing = "reference" if not mon.reference else "current"
        yield _d(doc, dx.MISSING_FOR_FEATURE, f"drift checks need monitoring.{missing}",
                 ("monitoring", "drift"), hint=f"add 'monitoring.{missing}: data.NAME'")
    for i, check in enumerate(mon.drift):
        if check.method in ("ks", "chi2") and check.threshold >= 1:
            yield _d(doc, dx.OUT_OF_RANGE, f"{check.method} thresholds are p-values, so {check.threshold:g} "
                     "would report drift on every run", ("monitoring", "drift", i, "threshold"),
                     hint="use a small p-value such as 0.01")
    ref = spec.data.get(strip_namespace(mon.reference)) if mon.reference else None
    if mon.schema_checks and not contract_source(spec):
        yield _d(doc, dx.MISSING_FOR_FEATURE, "schema_checks is on but neither monitoring.current nor "
                 "monitoring.reference has a schema", ("monitoring", "schema_checks"),
                 hint="add a 'schema:' to the reference source")
    if ref is None or ref.schema_ is None:
        return
    for i, check in enumerate(mon.drift):
        for j, col in enumerate(check.columns):
            if col not in ref.schema_:
                hint = did_you_mean(col, ref.schema_)
                yield _d(doc, dx.DRIFT_COLUMN_UNKNOWN,
                         f"drift column {col!r} is not in the schema of {mon.reference}",
                         ("monitoring", "drift", i, "columns", j),
                         hint=hint or f"columns: {', '.join(list(ref.schema_)[:10])}")
            elif check.method == "chi2" and ref.schema_[col].type not in ("category", "string", "boolean", "integer"):
                yield _d(doc, dx.MISSING_FOR_FEATURE,
                         f"chi2 compares categories, but column {col!r} is {ref.schema_[col].type}",
                         ("monitoring", "drift", i, "method"), hint="use psi, ks or wasserstein for numbers")


@rule
def pinned_data(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    if not spec.governance.require_pinned_data:
        return
    needed: dict[str, SpecPath] = {}
    step_needs = {n: s.needs for n, s in spec.steps.items()}
    seen_steps: set[str] = set()

    def walk(needs: list[str], base: SpecPath) -> None:
        for i, ref in enumerate(needs):
            if ref.startswith("data."):
                needed.setdefault(strip_namespace(ref), (*base, i))
            elif ref.startswith("steps.") and strip_namespace(ref) in step_needs and strip_namespace(ref) not in seen_steps:
                seen_steps.add(strip_namespace(ref))
                walk(step_needs[strip_namespace(ref)], ("steps", strip_namespace(ref), "needs"))

    if spec.training:
        walk(spec.training.needs, ("training", "needs"))
    if spec.validation:
        walk(spec.validation.needs, ("validation", "needs"))
    from mlspec.language import pins

    for name, where in sorted(needed.items()):
        src = spec.data.get(name)
        if src is not None and src.version is None:
            yield _d(doc, dx.UNPINNED_DATA, f"data.{name} has no version, but governance.require_pinned_data "
                     f"is on and it is needed at {dx.format_path(where)}", ("data", name),
                     hint="add 'version:' (sha256:<hex>, dvc:<md5>, lakefs:<commit> or s3-version:<id>)", key=True)
        elif src is not None and src.version is not None:
            why = pins.problem(src.version, src.uri)
            if why:
                yield _d(doc, dx.PIN_NOT_CONTENT, f"data.{name}: {why}; governance.require_pinned_data needs a pin "
                         "that identifies the data's content", ("data", name, "version"), hint=pins.HINT)


CARD_FIELDS = ("intended_use", "limitations", "ethical_considerations", "out_of_scope_uses")


@rule
def high_risk(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    """``risk_level: high``: a named human sign-off before registration, and a card that says what
    the model is for and not for. (The digest-pinned base image is MS403, where images are built.)"""
    gov = spec.governance
    if gov.risk_level != "high":
        return
    for name in CARD_FIELDS:
        if not getattr(gov, name):
            yield _d(doc, dx.CARD_FIELD_MISSING, f"governance.{name} is missing; at risk_level: high the model "
                     "card must state it", ("governance",), key=True,
                     hint=f"add governance.{name} (rendered in the card of every registered version)")
    if spec.training is None and spec.validation is None:
        return
    if spec.validation is None:
        yield _d(doc, dx.HIGH_RISK_NO_APPROVAL, "risk_level: high needs a human approval before registration, but "
                 "the spec has no validation section", ("governance", "risk_level"),
                 hint="add validation with approval: {required: true, reviewers: [...]}")
        return
    approval = spec.validation.approval
    if not approval.required:
        # At the value to change when it is written, else at the section that lacks it.
        written = doc.get(("validation", "approval", "required")) is not None
        yield _d(doc, dx.HIGH_RISK_NO_APPROVAL, "risk_level: high needs a human approval before registration "
                 "(validation.approval.required: true)", ("validation", "approval", "required"), key=not written,
                 hint="set validation.approval.required: true and name the reviewers")
    if not approval.reviewers:
        yield _d(doc, dx.HIGH_RISK_NO_APPROVAL, "risk_level: high needs named reviewers for the approval "
                 "(validation.approval.reviewers)", ("validation", "approval", "reviewers"), key=True,
                 hint="list the GitHub users or teams who may approve: reviewers: [ml-leads]")


# --------------------------------------------------------------------------- environment and files


@rule
def environment(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    env = spec.environment
    seen: set[str] = set()
    for i, name in enumerate(env.secrets):
        if name in seen:
            yield _d(doc, dx.DUPLICATE_ENTRY, f"secret {name!r} is listed twice", ("environment", "secrets", i))
        seen.add(name)
        if name in env.env:
            yield _d(doc, dx.SECRET_NAME_CLASH, f"{name!r} is both a plain variable and a secret",
                     ("environment", "env", name), key=True, hint="keep it only in environment.secrets")
    if spec.registry and spec.registry.backend == "local" and spec.registry.uri:
        from mlspec.language.types import relative_path_problem, uri_scheme

        # A local registry is a folder of the project: `file://` names the same folder, so
        # `file:///abs` is as absolute as `/abs` and `file://../x` escapes like `../x`.
        uri = spec.registry.uri
        scheme = uri_scheme(uri)
        if scheme in (None, "file"):
            folder = uri[len("file://"):] if scheme == "file" else uri
            problem = relative_path_problem(folder)
            if problem:
                yield _d(doc, dx.PATH_ESCAPES, f"registry folder {uri!r} {problem}", ("registry", "uri"),
                         hint="a local registry is a folder inside the project, such as '.mlspec/registry'")
    if spec.registry and spec.registry.backend == "mlflow" and not spec.registry.uri:
        yield _d(doc, dx.MISSING_FOR_FEATURE, "the mlflow registry needs a tracking 'uri'", ("registry",),
                 hint="e.g. uri: http://mlflow:5000")


@rule
def outputs(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    owners: dict[str, SpecPath] = {}
    places: list[tuple[SpecPath, str]] = []
    for name, step in sorted(spec.steps.items()):
        places += [(("steps", name, "outputs", i), o) for i, o in enumerate(step.outputs)]
    if spec.training:
        places.append((("training", "outputs", "model"), spec.training.outputs.model))
        if spec.training.outputs.metrics:
            places.append((("training", "outputs", "metrics"), spec.training.outputs.metrics))
    if spec.validation:
        places.append((("validation", "metrics"), spec.validation.metrics))
        places += [(("validation", "outputs", i), o) for i, o in enumerate(spec.validation.outputs)]
    if spec.monitoring:
        if spec.monitoring.performance and spec.monitoring.performance.run:
            places.append((("monitoring", "performance", "metrics"), spec.monitoring.performance.metrics))
        places += [(("monitoring", "checks", i, "metrics"), c.metrics_file)
                   for i, c in enumerate(spec.monitoring.checks)]
    for path, out in places:
        norm = posixpath.normpath(out)
        if norm in owners:
            yield _d(doc, dx.DUPLICATE_ENTRY, f"{out!r} is also written at {dx.format_path(owners[norm])}", path,
                     hint="every output file has one producer")
        owners.setdefault(norm, path)
    # A folder output holding another node's output: neither file has one producer.
    node_of = {path: path[:2] if path[0] == "steps" else path[:3] if path[:2] == ("monitoring", "checks")
               else path[:1] for path, _ in places}
    for path, out in places:
        norm = posixpath.normpath(out)
        # The folders containing this output, looked up by name: linear in the number of outputs.
        parents = sorted(norm[:i] for i, c in enumerate(norm) if c == "/" and norm[:i] in owners)
        for other in parents:
            owner = owners[other]
            if node_of[owner] != node_of[path]:
                yield _d(doc, dx.OVERLAPPING_OUTPUTS,
                         f"{out!r} lies inside {other!r}, which {dx.format_path(node_of[owner])} writes",
                         path, hint="write each node's outputs to paths that do not contain each other")


@rule
def input_files(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    if doc.path is None:
        return
    base = doc.base_dir
    files: list[tuple[SpecPath, str]] = []
    if spec.environment.requirements:
        files.append((("environment", "requirements"), spec.environment.requirements))
    if spec.llm:
        files += [(("llm", "prompts", n, "file"), pr.file) for n, pr in spec.llm.prompts.items()]
        files += [(("llm", "evals", i, "rubric"), e.rubric) for i, e in enumerate(spec.llm.evals) if e.rubric]
        files += [(("llm", "evals", i, "schema"), e.schema_) for i, e in enumerate(spec.llm.evals) if e.schema_]
    for path, rel in files:
        if not (base / rel).exists():
            yield _d(doc, dx.INPUT_FILE_MISSING, f"{rel!r} ({dx.format_path(path)}) does not exist yet", path)


# --------------------------------------------------------------------------- serving and monitoring


@rule
def serving_mode(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    sv = spec.serving
    if not sv:
        return
    set_fields = sv.model_fields_set
    if sv.mode == "online":
        if sv.port is None:
            yield _d(doc, dx.SERVING_MODE_MISMATCH, "online serving needs a 'port'", ("serving",),
                     hint="add 'port: 8080'", key=True)
        for f in ("schedule",):
            if f in set_fields:
                yield _d(doc, dx.SERVING_MODE_MISMATCH, f"'{f}' is for batch serving", ("serving", f), key=True)
        if sv.slo is None:
            yield _d(doc, dx.SERVING_WITHOUT_SLO, "online serving has no slo, so no latency or error alert "
                     "can be generated", ("serving",), key=True,
                     hint="add 'slo: {latency_p95_ms: 200, error_rate: 0.01}'")
        if sv.health_path is None:
            yield _d(doc, dx.NO_HEALTH_CHECK, "online serving has no health_path: nothing checks that the "
                     "model is loaded before traffic arrives", ("serving", "health_path"),
                     hint="serve a cheap endpoint such as /healthz that answers once the model is loaded")
    else:
        if sv.schedule is None:
            yield _d(doc, dx.SERVING_MODE_MISMATCH, "batch serving needs a 'schedule'", ("serving",), key=True,
                     hint="add 'schedule: \"0 2 * * *\"'")
        for f in ("port", "health_path", "metrics_path", "replicas", "autoscaling", "rollout", "slo"):
            if f in set_fields:
                yield _d(doc, dx.SERVING_MODE_MISMATCH, f"'{f}' is for online serving", ("serving", f), key=True)
        if sv.batch is not None:
            yield _d(doc, dx.BATCH_BLOCK_MISUSED, "'batch' adds batch scoring to online serving; with "
                     "mode: batch, serving already is the batch job", ("serving", "batch"), key=True,
                     hint="move run/schedule/timeout directly under serving, or use mode: online with a server")
    if sv.mode == "online" and sv.batch is not None and " ".join(sv.batch.run.split()) == " ".join(sv.run.split()):
        yield _d(doc, dx.BATCH_RUNS_THE_SERVER, "serving.batch.run starts the server, which never finishes "
                 "as a scheduled job", ("serving", "batch", "run"),
                 hint="give batch its own scoring command, e.g. python -m app.score")


@rule
def monitoring_alerts(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    mon = spec.monitoring
    if mon and not mon.alerts:
        yield _d(doc, dx.MONITORING_WITHOUT_ALERTS, "monitoring has no alerts, so nobody hears about drift",
                 ("monitoring",), key=True, hint="add 'alerts: [{channel: slack, to: \"#ml-alerts\"}]'")
    if mon and not mon.pushgateway and not mon.textfile_dir:
        yield _d(doc, dx.MONITORING_WITHOUT_METRICS,
                 "monitoring names no metrics destination, so its results never reach Prometheus and no "
                 "drift, failure or staleness alert can fire", ("monitoring",), key=True,
                 hint="add 'pushgateway: http://pushgateway:9091' (or 'textfile_dir:' for node_exporter) "
                      "under monitoring; $MLSPEC_PUSHGATEWAY overrides the URL at run time")
    if mon:
        import re
        for i, a in enumerate(mon.alerts):
            path = ("monitoring", "alerts", i, "to")
            if a.channel == "email" and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", a.to):
                yield _d(doc, dx.INVALID_STRING, f"{a.to!r} is not an e-mail address", path)
            if a.channel == "webhook" and not a.to.startswith("https://"):
                yield _d(doc, dx.INVALID_URI, "a webhook must be an https:// URL", path)
            if a.channel == "slack" and not re.fullmatch(r"[#@][A-Za-z0-9._-]{1,80}", a.to):
                yield _d(doc, dx.INVALID_STRING, f"{a.to!r} is not a Slack channel such as '#ml-alerts'", path)


@rule
def retraining_events(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    r = spec.retraining
    if not r:
        return
    mon = spec.monitoring
    raised = {name for name, on in (
        ("data_drift", bool(mon and mon.drift)), ("concept_drift", bool(mon and mon.performance)),
        ("pipeline_drift", bool(mon and mon.schema_checks)),
        ("freshness", bool(mon and any(s.freshness for s in spec.data.values())))) if on}
    raised |= {c.event for c in (mon.checks if mon else ())}
    for i, name in enumerate(r.on):
        if name not in raised:
            requires = event(name).requires or "monitoring"
            yield _d(doc, dx.MISSING_FOR_FEATURE, f"retraining on {name!r}, but monitoring never raises it",
                     ("retraining", "on", i), hint=f"configure {requires}")
    if not spec.training:
        yield _d(doc, dx.MISSING_FOR_FEATURE, "retraining needs a training section", ("retraining",), key=True)
    if r.scheduler is not None:
        options = spec.targets.get(r.scheduler) or {}
        if options.get("enabled", True) is False:
            other = "github_actions" if r.scheduler == "airflow" else "airflow"
            yield _d(doc, dx.SCHEDULER_DISABLED, f"retraining.scheduler is {r.scheduler}, but targets.{r.scheduler} "
                     "is disabled: nothing would run the schedule", ("retraining", "scheduler"),
                     hint=f"enable targets.{r.scheduler}, or set scheduler: {other} (or remove it for the default)")
        elif not r.schedule:
            yield _d(doc, dx.SCHEDULER_DISABLED, "retraining.scheduler is set but there is no retraining.schedule "
                     "to run", ("retraining", "scheduler"), hint="add schedule: (e.g. '0 3 * * 1'), or remove scheduler")


def contract_source(spec: Spec) -> str | None:
    """The source whose column contract live data must meet: current's own, else reference's."""
    mon = spec.monitoring
    for ref in (mon.current, mon.reference) if mon else ():
        if ref and strip_namespace(ref) in spec.data and spec.data[strip_namespace(ref)].schema_ is not None:
            return strip_namespace(ref)
    return None


# --------------------------------------------------------------------------- llm evals

JUDGED = ("rubric", "llm_judge")
# The fields of an eval summary a gate may read as `evals.NAME.FIELD`.
EVAL_SUMMARY_FIELDS = ("score", "passed", "failed", "errors", "cases", "tokens_max", "latency_p95_ms",
                       "cost_per_1k_requests_usd")


def _llm_evals(spec: Spec, doc: Document) -> Iterator[Diagnostic]:
    import re

    llm = spec.llm
    assert llm is not None
    seen: dict[str, int] = {}
    for i, ev in enumerate(llm.evals):
        path = ("llm", "evals", i)
        if ev.name in seen:
            yield _d(doc, dx.DUPLICATE_ENTRY, f"eval {ev.name!r} is also defined at llm.evals[{seen[ev.name]}]",
                     (*path, "name"), hint="every eval has its own name")
        seen.setdefault(ev.name, i)
        if ev.scorer in JUDGED and llm.judge is None:
            yield _d(doc, dx.JUDGE_MISSING, f"eval {ev.name!r} uses scorer {ev.scorer!r}, but llm.judge is not set",
                     (*path, "scorer"), hint="add llm.judge: {provider: openai_compatible, model: NAME, "
                                             "base_url: URL, api_key_secret: SECRET}")
        if ev.scorer == "regex":
            if ev.pattern is None:
                yield _d(doc, dx.EVAL_SCORER_PARAMS, f"eval {ev.name!r} uses scorer 'regex' but has no pattern",
                         (*path, "scorer"), hint="add 'pattern: REGEX'")
            else:
                try:
                    re.compile(ev.pattern)
                except re.error as exc:
                    yield _d(doc, dx.EVAL_SCORER_PARAMS, f"eval {ev.name!r}: pattern is not a valid regular "
                             f"expression ({exc})", (*path, "pattern"))
        elif ev.pattern is not None:
            yield _d(doc, dx.EVAL_SCORER_PARAMS, f"eval {ev.name!r}: 'pattern' is only read by the regex scorer",
                     (*path, "pattern"), key=True)
        if ev.scorer == "json_schema" and ev.schema_ is None:
            yield _d(doc, dx.EVAL_SCORER_PARAMS, f"eval {ev.name!r} uses scorer 'json_schema' but has no schema",
                     (*path, "scorer"), hint="add 'schema: schemas/answer.schema.json'")
        elif ev.scorer != "json_schema" and ev.schema_ is not None:
            yield _d(doc, dx.EVAL_SCORER_PARAMS, f"eval {ev.name!r}: 'schema' is only read by the json_schema "
                     "scorer", (*path, "schema"), key=True)
        if ev.rubric is not None and ev.scorer not in JUDGED:
            yield _d(doc, dx.EVAL_SCORER_PARAMS, f"eval {ev.name!r}: 'rubric' is only read by the rubric and "
                     "llm_judge scorers", (*path, "rubric"), key=True)
        src = spec.data.get(strip_namespace(ev.dataset))
        if src is not None:
            fmt = src.format or FORMAT_OF_EXTENSION.get(posixpath.splitext(src.uri.rstrip("/"))[1].lower())
            if fmt != "jsonl":
                yield _d(doc, dx.EVAL_DATASET_FORMAT, f"eval {ev.name!r}: dataset {ev.dataset} is "
                         f"{fmt or 'of unknown format'}, not JSON Lines", (*path, "dataset"),
                         hint="give the source a .jsonl uri or 'format: jsonl'")
    judge = llm.judge
    if judge is not None:
        jpath = ("llm", "judge")
        if judge.provider == "openai_compatible":
            if judge.base_url is None:
                yield _d(doc, dx.JUDGE_CONFIG, "an openai_compatible judge needs base_url", jpath,
                         hint="e.g. base_url: http://localhost:8000/v1")
            if judge.entrypoint is not None:
                yield _d(doc, dx.JUDGE_CONFIG, "entrypoint is for the local judge", (*jpath, "entrypoint"), key=True)
            if judge.api_key_secret is not None and judge.api_key_secret not in spec.environment.secrets:
                yield _d(doc, dx.JUDGE_CONFIG, f"api_key_secret {judge.api_key_secret!r} is not listed in "
                         "environment.secrets", (*jpath, "api_key_secret"),
                         hint=f"add {judge.api_key_secret} to environment.secrets so pipelines receive it")
        else:
            if judge.entrypoint is None:
                yield _d(doc, dx.JUDGE_CONFIG, "a local judge needs entrypoint (module:function)", jpath)
            for key in ("base_url", "api_key_secret"):
                if getattr(judge, key) is not None:
                    yield _d(doc, dx.JUDGE_CONFIG, f"{key} is for the openai_compatible judge", (*jpath, key),
                             key=True)
    names = {e.name for e in llm.evals}
    if spec.validation:
        for i, g in enumerate(spec.validation.gates):
            parts = g.metric.split(".")
            if parts[0] != "evals":
                continue
            gpath = ("validation", "gates", i, "metric")
            if len(parts) != 3 or parts[1] not in names:
                yield _d(doc, dx.GATE_EVAL_UNKNOWN, f"gate metric {g.metric!r} names no eval",
                         gpath, hint=did_you_mean(parts[1] if len(parts) > 1 else "", names)
                         or f"write evals.NAME.score; evals: {', '.join(sorted(names)) or 'none'}")
            elif parts[2] not in EVAL_SUMMARY_FIELDS:
                yield _d(doc, dx.GATE_EVAL_UNKNOWN, f"gate metric {g.metric!r}: an eval summary has no "
                         f"{parts[2]!r}", gpath, hint=did_you_mean(parts[2], EVAL_SUMMARY_FIELDS)
                         or f"fields: {', '.join(EVAL_SUMMARY_FIELDS)}")
