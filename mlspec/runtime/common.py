"""What every runtime command shares: loading the plan, paths, diagnostics, output, state.

A command body receives a :class:`Context`, adds diagnostics to it and returns an
:class:`Outcome`; :func:`run_command` turns that into text or JSON and an exit code. Bad
input never raises past :func:`run_command`: it is a :class:`Failure` (one diagnostic,
exit 1). Only bugs reach the CLI's internal-error handler (exit 3).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from mlspec import diagnostics as dx
from mlspec.events import EVENT_OF_CHECK
from mlspec.diagnostics import Diagnostic, Severity, SpecPath

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2

STATE_DIR = Path(".mlspec") / "monitoring"     # relative to the spec's folder
STATE_ENV = "MLSPEC_STATE_DIR"
PUSHGATEWAY_ENV = "MLSPEC_PUSHGATEWAY"     # overrides monitoring.pushgateway (one spec, many deployments)
NO_PUSH_ENV = "MLSPEC_NO_PUSH"             # "1": push nothing (a pull request's trial run is no production signal)
# Set by `mlspec run` (and readable by any scheduler): the file a check writes its outcome to,
# so a node that exited non-zero without recording a finding is told apart as a crash.
OUTCOME_ENV = "MLSPEC_OUTCOME_FILE"
# What a check recorded: it ran and found something, ran and found nothing, or could not check.
CHECK_OUTCOMES = ("finding", "ok", "error")
GATE_RESULT = Path(".mlspec") / "gates" / "result.json"

# Push failures are reported as a warning: the check's verdict stands (see docs/runtime.md).
# MS609 still needs its entry in mlspec.diagnostics.CODES (requested from its owner).
PUSH_FAILED = dx.PUSH_FAILED

_EXTRAS = {"numpy": "runtime", "scipy": "runtime", "pyarrow": "runtime", "mlflow": "mlflow"}


class Failure(Exception):
    """Bad input that stops a command: becomes one error diagnostic and exit 1."""

    def __init__(self, code: str, message: str, *, file: str | None = None, hint: str | None = None,
                 path: SpecPath = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.file, self.hint, self.path = code, message, file, hint, path


@dataclass
class Outcome:
    ok: bool
    payload: dict[str, Any]            # JSON fields besides "command", "ok", "diagnostics"
    text: str = ""                     # the readable table (stdout)
    exit_code: int | None = None       # default: 0 when ok, else 1


@dataclass
class Context:
    command: str
    spec_arg: str
    spec_dir: Path
    checked: Any                       # mlspec.api.Checked
    fmt: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    recorded: str | None = None        # the outcome write_state recorded (finding, ok, error)

    @property
    def plan(self) -> Any:
        return self.checked.plan

    @property
    def project(self) -> str:
        return self.checked.plan.project.name

    # -------------------------------------------------------------- paths

    def spec_path(self, rel: str) -> Path:
        """A path written in the spec (relative to the spec's folder)."""
        rel = rel.removeprefix("file://")
        p = Path(rel)
        return p if p.is_absolute() else self.spec_dir / p

    def shown(self, path: Path | str) -> str:
        """A path as users recognise it: relative to the working folder when that is shorter."""
        p = Path(path)
        try:
            absolute = p.resolve()
            rel = Path(os.path.relpath(absolute, Path.cwd().resolve())).as_posix()
        except (ValueError, OSError):
            return p.as_posix()
        return rel if len(rel) <= len(absolute.as_posix()) else absolute.as_posix()

    def state_dir(self, override: str | None = None) -> Path:
        if override:
            return Path(override)
        env = os.environ.get(STATE_ENV)
        return Path(env) if env else self.spec_dir / STATE_DIR

    # -------------------------------------------------------------- diagnostics

    def add(self, code: str, message: str, *, severity: Severity = Severity.ERROR, path: SpecPath = (),
            file: str | None = None, hint: str | None = None) -> Diagnostic:
        """A diagnostic; with ``path`` (and no ``file``) it points at that place in the spec."""
        span = None
        if file is None:
            file = self.checked.file
            doc = self.checked.doc
            span = doc.span(path) if (doc is not None and path) else None
        d = Diagnostic(code, message, severity, file, span, tuple(path), hint)
        self.diagnostics.append(d)
        return d

    def warn(self, code: str, message: str, **kw: Any) -> Diagnostic:
        return self.add(code, message, severity=Severity.WARNING, **kw)

    @property
    def failed(self) -> bool:
        return dx.has_errors(self.diagnostics)


# ------------------------------------------------------------------ optional extras


def require(*modules: str, command: str) -> None:
    """Import the optional modules a command needs, or fail with MS607."""
    import importlib

    missing = []
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        extra = "mlflow" if "mlflow" in missing else "runtime"
        raise Failure(dx.RUNTIME_MISSING,
                      f"`mlspec {command}` needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                      f"not installed", hint=f"pip install 'mlspec-compiler[{extra}]'")


# ------------------------------------------------------------------ numbers and JSON


def finite(value: Any) -> float | None:
    """The value as a finite float, else None (JSON output never holds NaN or Infinity)."""
    if not isinstance(value, (int, float)) and hasattr(value, "item"):   # numpy scalars
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float(value)
    except (OverflowError, ValueError):
        return None
    return f if math.isfinite(f) else None


def num(value: float | None, digits: int = 6) -> str:
    """A compact human rendering of a number (``n/a`` for none)."""
    if value is None:
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def json_text(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write a file via a temporary sibling and a rename, so readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, json_text(data))


def utc(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def read_json_file(path: Path, what: str, shown: str, *, code: str = dx.DATA_UNREADABLE,
                   max_bytes: int = 64 * 1024 * 1024, follow_symlinks: bool = True) -> Any:
    """A JSON file read through the bounded reader: a regular file of at most ``max_bytes``,
    UTF-8. ``NaN``/``Infinity`` load as floats: callers judge numbers themselves."""
    from mlspec.bounded import ReadRefused, read_text

    try:
        text = read_text(path, max_bytes, follow_symlinks=follow_symlinks)
    except ReadRefused as exc:
        raise Failure(code, f"{what} {shown} {exc.reason}", file=shown) from None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise Failure(code, f"{what} {shown} is not valid JSON: {msg}{where}", file=shown) from None


# ------------------------------------------------------------------ state shared with retrain-trigger




def write_state(ctx: Context, kind: str, state_dir: Path, status: str, summary: str,
                payload: dict[str, Any], *, pushgateway: str | None = None, no_push: bool = False,
                event: str | None = None) -> Path:
    """Record a monitoring result for ``retrain-trigger``: ``<state>/<kind>.json``.

    ``status``: ``finding`` (the check ran and raised its event), ``ok`` (checked, nothing
    found) or ``error`` (could not check; never triggers a retrain). The outcome also goes
    to ``$MLSPEC_OUTCOME_FILE`` when set (``mlspec run``) and to the Pushgateway as
    ``mlspec_check_outcome``, so a crash is never mistaken for a finding.
    """
    if status not in CHECK_OUTCOMES:
        raise ValueError(f"unknown check outcome {status!r}")
    ctx.recorded = status
    now = time.time()
    doc = {"kind": kind, "event": event or EVENT_OF_CHECK[kind], "status": status, "summary": summary,
           "project": ctx.project, "spec_sha256": ctx.plan.spec_sha256,
           "finished": utc(now), "finished_timestamp": round(now, 3),
           "run_id": os.environ.get("MLSPEC_RUN_ID"), "node": os.environ.get("MLSPEC_NODE"),
           "command": ctx.command, "ok": not ctx.failed, **payload,
           "diagnostics": [d.to_json() for d in ctx.diagnostics]}
    path = state_dir / f"{kind}.json"
    try:
        write_json(path, doc)
    except OSError as exc:
        ctx.warn(dx.DATA_UNREADABLE, f"cannot write the monitoring state {ctx.shown(path)}: {exc.strerror or exc}",
                 file=ctx.shown(path))
    outcome_file = os.environ.get(OUTCOME_ENV)
    if outcome_file:
        try:
            write_json(Path(outcome_file), {"kind": kind, "status": status, "summary": summary})
        except OSError as exc:
            ctx.warn(dx.DATA_UNREADABLE, f"cannot write the check outcome {outcome_file}: {exc.strerror or exc}",
                     file=outcome_file)
    _push_outcome(ctx, kind, status, pushgateway, no_push)
    return path


def _push_outcome(ctx: Context, kind: str, status: str, url: str | None, no_push: bool) -> None:
    """``mlspec_check_outcome{check, outcome}``: 1 for the recorded outcome, 0 for the others
    (a state set), in its own group so the check's metrics push never replaces it."""
    from mlspec import metrics as mm
    from mlspec.runtime import prometheus as prom

    target = None if no_push or os.environ.get(NO_PUSH_ENV) == "1" else gateway_url(ctx.plan, url)
    if not target:
        return
    samples = [prom.sample(mm.CHECK_OUTCOME, int(o == status), project=ctx.project, check=kind, outcome=o)
               for o in CHECK_OUTCOMES]
    try:
        prom.push(target, samples, [("job", prom.JOB), ("project", ctx.project), ("check", kind)])
    except prom.PushError as exc:
        ctx.warn(PUSH_FAILED, f"could not push the check outcome to {target}: {exc}", file=ctx.checked.file,
                 hint="the check's result stands; fix the gateway or pass --no-push")


# ------------------------------------------------------------------ pushing


def gateway_url(plan: Any, url: str | None = None) -> str | None:
    """The Pushgateway: ``--pushgateway``, else ``$MLSPEC_PUSHGATEWAY``, else ``monitoring.pushgateway``."""
    return url or os.environ.get(PUSHGATEWAY_ENV) or (plan.monitoring.pushgateway if plan.monitoring else None)


def push_samples(ctx: Context, samples: list[Any], *, url: str | None, no_push: bool, textfile: str | None,
                 grouping: Iterable[tuple[str, str]] = (), groups: list[tuple[list[tuple[str, str]], list[Any]]]
                 | None = None, method: str = "PUT") -> dict[str, Any]:
    """Write the textfile and push to the gateway; failures are warnings. Returns a JSON summary.

    The group is ``job/mlspec/project/<name>`` + ``command/<command>`` + ``grouping``; with
    ``groups``, each ``(labels, samples)`` is pushed to ``job/mlspec/project/<name>`` + labels.
    """
    from mlspec.runtime import prometheus as prom

    info: dict[str, Any] = {"pushgateway": None, "pushed": False, "textfile": None}
    mon = ctx.plan.monitoring
    if not textfile and mon is not None and mon.textfile_dir:
        textfile = str(ctx.spec_path(mon.textfile_dir) / f"{ctx.project}_{ctx.command}.prom")
    if textfile:
        path = Path(textfile)
        try:
            prom.write_textfile(path, samples)
            info["textfile"] = ctx.shown(path)
        except (OSError, ValueError) as exc:
            ctx.add(dx.DATA_UNREADABLE, f"cannot write the metrics text file {textfile}: "
                    f"{getattr(exc, 'strerror', None) or exc}", file=textfile)
    target = None if no_push or os.environ.get(NO_PUSH_ENV) == "1" else gateway_url(ctx.plan, url)
    if not target:
        return info
    info["pushgateway"] = target
    problem = prom.url_problem(target)
    if problem:
        # A malformed address is wrong input (fix the option or the spec), not a gateway outage.
        ctx.add(dx.PUSHGATEWAY_INVALID, f"cannot push metrics: {problem}", file=ctx.checked.file,
                hint="pass --pushgateway http://HOST:9091, or --no-push")
        return info
    batches = groups if groups is not None else [([("command", ctx.command), *grouping], samples)]
    try:
        for extra, batch in batches:
            prom.push(target, batch, [("job", prom.JOB), ("project", ctx.project), *extra], method=method)
        info["pushed"] = True
    except prom.PushError as exc:
        ctx.warn(PUSH_FAILED, f"could not push metrics to {target}: {exc}", file=ctx.checked.file,
                 hint="the check's result stands; fix the gateway or pass --no-push")
    return info


# ------------------------------------------------------------------ running a command


def load_context(command: str, spec: str, fmt: str) -> Context:
    from mlspec.api import check_project

    checked = check_project(spec, check_targets=False)
    return Context(command, spec, Path(spec).resolve().parent, checked, fmt, list(checked.diagnostics))


def run_command(command: str, spec: str, fmt: str, body: Callable[[Context], Outcome], *,
                exit_zero_on_finding: bool = False) -> None:
    """Load the spec, run ``body``, print, exit. Never returns.

    With ``exit_zero_on_finding`` a check that ran and recorded a finding exits 0 (schedulers
    whose tasks must fail only on crashes); anything else keeps its exit code.
    """
    ctx = load_context(command, spec, fmt)
    if not ctx.checked.ok:
        _emit(ctx, Outcome(False, {"results": []}, ""), footer=f"{ctx.checked.file}: invalid spec; nothing checked")
        sys.exit(EXIT_FAIL)
    # Warnings of the spec itself are `validate`'s business; keep runtime output about runtime.
    ctx.diagnostics = []
    try:
        outcome = body(ctx)
    except Failure as exc:
        file = exc.file
        if exc.path and file is None:
            ctx.add(exc.code, exc.message, path=exc.path, hint=exc.hint)
        else:
            ctx.add(exc.code, exc.message, file=file or ctx.checked.file, hint=exc.hint)
        outcome = Outcome(False, {"results": []}, "")
    if ctx.failed:
        outcome.ok = False
    _emit(ctx, outcome)
    code = outcome.exit_code if outcome.exit_code is not None else (EXIT_OK if outcome.ok else EXIT_FAIL)
    if exit_zero_on_finding and ctx.recorded == "finding" and code == EXIT_FAIL:
        code = EXIT_OK
    sys.exit(code)


def _emit(ctx: Context, outcome: Outcome, footer: str | None = None) -> None:
    from mlspec import reporters

    diags = dx.sort_diagnostics(ctx.diagnostics)
    if ctx.fmt == "json":
        payload = {"command": ctx.command, "ok": outcome.ok}
        if ctx.checked.plan is not None:
            payload["project"] = ctx.project
        payload.update(outcome.payload)
        click.echo(reporters.render_json(diags, **_jsonable(payload)), nl=False)
        return
    if outcome.text:
        click.echo(outcome.text, nl=not outcome.text.endswith("\n"))
    sources = {ctx.checked.file: ctx.checked.doc.text} if ctx.checked.doc is not None else {}
    text = reporters.render_text(diags, sources)
    if text:
        click.echo(text, nl=False, err=True)
    if footer:
        click.echo(footer, err=True)


def _jsonable(value: Any) -> Any:
    """Replace non-finite floats by None so the JSON is strict."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain left-aligned text table; cells are cleaned of control characters."""
    from mlspec.reporters import clean

    cells = [[clean(str(c)) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines) + "\n"
