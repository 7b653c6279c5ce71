"""The ``mlspec`` command line. It parses options, calls the API, reports and exits.

Start-up matters (``mlspec --help`` in CI, editor integrations), so this module imports
only click and the standard library; every command imports what it needs when it runs,
and the runtime commands' modules load only when invoked.

Exit codes (docs/cli.md): 0 success; 1 the input is wrong; 2 usage error; 3 internal error.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from mlspec._version import REPOSITORY_URL, __version__

EXIT_OK, EXIT_INPUT, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
ISSUES_URL = f"{REPOSITORY_URL}/issues"

FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                      show_default=True, help="Output format.")
FORMAT_GH = click.option("--format", "fmt", type=click.Choice(["text", "json", "github", "sarif"]), default="text",
                         show_default=True, help="Output format; 'github' prints workflow annotations, "
                                                 "'sarif' a SARIF 2.1.0 log for code scanning.")


class LazyGroup(click.Group):
    """A group whose runtime commands are imported only when used.

    ``--help`` lists them from a static table, so it never imports pydantic or numpy.
    """

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, _ = self.lazy[name]
            mod = importlib.import_module(module)
            self.add_command(getattr(mod, name.replace("-", "_")), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, c.get_short_help_str(60)) for n, c in sorted(self.commands.items()) if not c.hidden]
        rows += [(n, h) for n, (_, h) in self.lazy.items() if n not in self.commands]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))


# Each runtime command's module, imported only when the command runs.
GATE, DATA, REGISTRY, MONITOR, EVAL = (f"mlspec.runtime.{m}_cli" for m in ("gate", "data", "registry", "monitor", "eval"))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, lazy={
    "gate": (GATE, "Evaluate the spec's gates on a metrics file."),
    "drift": (DATA, "Measure drift between reference and current data."),
    "check-data": (DATA, "Check a data set against a source's column contract."),
    "register": (REGISTRY, "Version an approved model in the registry."),
    "registry": (REGISTRY, "Describe, fetch, promote or prune registered models; their model cards."),
    "freshness": (MONITOR, "Check that data sources are fresher than their bound."),
    "performance": (MONITOR, "Check live model performance against its bounds."),
    "custom-check": ("mlspec.runtime.custom_check", "Judge a custom monitoring check's metrics against its bounds."),
    "retrain-trigger": (MONITOR, "Decide whether monitoring should start a retrain."),
    "ci-baseline": ("mlspec.runtime.ci_baseline", "Production metrics for pull requests (export on main, fetch in the PR)."),
    "store": ("mlspec.runtime.store_cli", "Save a node's outputs to the artifact store or restore its inputs."),
    "report-run": (MONITOR, "Report how a node or a whole run ended (success, timestamp) to Prometheus."),
    "eval": (EVAL, "Run and score the spec's LLM evals."),
    "llm-usage": (EVAL, "Turn a serving app's LLM usage log into the mlspec_llm_* metrics."),
    "audit": ("mlspec.runtime.audit_cli", "Who approved which model on what data and evidence; every promotion."),
})
@click.version_option(__version__, "--version", prog_name="mlspec")
@click.option("--traceback", is_flag=True, help="Show the Python traceback of an internal error.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """mlspec: one mlproject.yaml, compiled into reviewed CI workflows, Airflow DAGs,
    Dockerfiles and monitoring."""
    ctx.obj = {"traceback": traceback}


# --------------------------------------------------------------------------- reporting


def report(diags: list, fmt: str, sources: dict[str, str] | None = None, **extra: Any) -> None:
    """Print diagnostics: text and GitHub annotations to stderr/stdout, JSON to stdout."""
    from mlspec import reporters

    if fmt == "json":
        click.echo(reporters.render_json(diags, **extra), nl=False)
    elif fmt == "github":
        click.echo(reporters.render_github(diags), nl=False)
    elif fmt == "sarif":
        click.echo(reporters.render_sarif(diags), nl=False)
    else:
        text = reporters.render_text(diags, sources)
        if text:
            click.echo(text, nl=False, err=True)


def _sources(checked: list) -> dict[str, str]:
    return {c.file: c.doc.text for c in checked if c.doc is not None}


def _specs(specs: tuple[str, ...]) -> list[str]:
    return list(specs) or ["mlproject.yaml"]


# --------------------------------------------------------------------------- commands


def _compiler_process() -> None:
    """Settings for a process that only compiles (validate, compile); the long-running and
    user-code-running commands (`lsp`, `mlspec run`, the runtime commands) keep the defaults.

    * The compiler builds large acyclic structures (the document, the plan, the artifacts'
      text) in a process that ends when they are written; the cyclic collector's full passes
      over them cost a tenth of the time at 5,000 steps and free nothing. Collect rarely.
    * pydantic validates mlspec's own language here. Its plugins (observability hooks for an
      application's models) have no business seeing a spec, and finding them scans every
      installed distribution's metadata at start-up.
    """
    import gc

    gc.freeze()  # what the imports made lives as long as the process
    gc.set_threshold(100_000, 50, 100)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


@cli.command()
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False, path_type=str))
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@FORMAT_GH
def validate(specs: tuple[str, ...], strict: bool, fmt: str) -> None:
    """Load and check specs; print diagnostics; write nothing."""
    _compiler_process()
    from mlspec.api import check_project
    from mlspec.reporters import summary

    results = [check_project(s, strict=strict) for s in _specs(specs)]
    diags = [d for r in results for d in r.diagnostics]
    report(diags, fmt, _sources(results), specs=[{"file": r.file, "valid": r.ok} for r in results])
    if fmt == "text":
        for r in results:
            status = "valid" if r.ok else "invalid"
            click.echo(f"{r.file}: {status} ({summary(r.diagnostics)})", err=not r.ok)
    sys.exit(EXIT_OK if all(r.ok for r in results) else EXIT_INPUT)


@cli.command(name="compile")
@click.argument("specs", nargs=-1, type=click.Path(dir_okay=False, path_type=str))
@click.option("--all", "all_specs", is_flag=True,
              help="Compile every mlproject.yaml under the current folder (outside hidden folders, "
                   "node_modules and folders .gitignore names) into OUT (default: the current folder), "
                   "and remove the files of projects whose spec is gone.")
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False, path_type=str),
              help="Output folder (default: each spec's own folder). Several specs share it: every file "
                   "name carries the project name and each project keeps its own index "
                   "(.mlspec-manifest.<project>.json). Use the repository root, where GitHub reads "
                   "workflows.")
@click.option("--target", "targets", multiple=True, help="Only these targets (repeatable).")
@click.option("--check", is_flag=True, help="Write nothing; fail if any artifact on disk is stale.")
@click.option("--force", is_flag=True, help="Overwrite files mlspec did not write or that were hand-edited.")
@click.option("--strict", is_flag=True, help="Treat warnings as errors.")
@click.option("--template-dir", "template_dirs", multiple=True,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Folder of templates that override the built-in ones (repeatable).")
@FORMAT_GH
def compile_cmd(specs: tuple[str, ...], all_specs: bool, out_dir: str | None, targets: tuple[str, ...],
                check: bool, force: bool, strict: bool, template_dirs: tuple[Path, ...], fmt: str) -> None:
    """Validate, then write all artifacts (all or nothing, per project)."""
    _compiler_process()
    from mlspec.api import check_project, compile_project, duplicate_projects, find_specs, retire_projects

    if all_specs and specs:
        raise click.UsageError("give either SPECS or --all, not both")
    if all_specs:
        out_dir = out_dir or "."
        paths = [str(p) for p in find_specs(Path("."))]
        if not paths:
            click.echo("mlspec: no mlproject.yaml under the current folder", err=True)
    else:
        paths = _specs(specs)
    outs = [out_dir if out_dir is not None else str(Path(p).parent) for p in paths]
    checked = [check_project(p, targets=targets, strict=strict, out_dir=o, template_dirs=template_dirs)
               for p, o in zip(paths, outs)]
    # Projects that share an output folder must have different names: nothing is written for
    # any of those that do not (they would write the same files).
    by_out: dict[str, list[int]] = {}
    for i, o in enumerate(outs):
        by_out.setdefault(str(Path(o).resolve()), []).append(i)
    for group in by_out.values():
        for d in duplicate_projects([checked[i] for i in group]):
            c = next(checked[i] for i in group if checked[i].file == d.file)
            c.diagnostics = [*c.diagnostics, d]
            c.plan = None
    results = [compile_project(p, o, targets=targets, check=check, force=force, strict=strict,
                               template_dirs=template_dirs, checked=c)
               for p, o, c in zip(paths, outs, checked)]
    retired: list[tuple[str, Any]] = []
    if all_specs and not targets:
        keep = {c.spec.project.name for c in checked if c.spec is not None}
        retired = retire_projects(Path(out_dir or "."), keep, check=check)
    diags = [d for r in results for d in r.diagnostics]
    diags += [d for _, w in retired for d in w.diagnostics]
    files = [{"path": (r.out_dir / c.path).as_posix(), "action": c.action, "target": c.target, "kind": c.kind}
             for r in results for c in r.changes]
    files += [{"path": (Path(out_dir or ".") / c.path).as_posix(), "action": c.action, "target": c.target,
               "kind": c.kind} for _, w in retired for c in w.changes]
    report(diags, fmt, _sources([r.checked for r in results]), files=files)
    if fmt == "text":
        for r in results:
            for c in r.changes:
                if c.diff and check:
                    click.echo(c.diff, err=True, nl=not c.diff.endswith("\n"))
            _print_changes(r, check)
        for name, w in retired:
            for c in w.changes:
                verb = "would remove" if check else "remove"
                click.echo(f"{verb:>15}  {(Path(out_dir or '.') / c.path).as_posix()}  ({name}: its spec is gone)",
                           err=check)
    failed = any(not r.ok for r in results) or any(
        d.is_error for _, w in retired for d in w.diagnostics) or (check and any(w.changes for _, w in retired))
    sys.exit(EXIT_INPUT if failed else EXIT_OK)


def _print_changes(result: Any, check: bool) -> None:
    name = result.checked.file
    changed = [c for c in result.changes if c.action != "unchanged"]
    if not result.ok:
        if check and result.changes:
            click.echo(f"{name}: {len(changed)} of {len(result.changes)} artifact(s) out of date", err=True)
        elif getattr(result, "outcome", "nothing") == "partial":
            click.echo(f"{name}: writing stopped part-way and could not be undone; the next "
                       "`mlspec compile` completes or undoes it", err=True)
        else:
            click.echo(f"{name}: nothing written", err=True)
        return
    if check:
        click.echo(f"{name}: {len(result.changes)} artifact(s) up to date")
        return
    for c in changed:
        click.echo(f"{c.action:>15}  {(result.out_dir / c.path).as_posix()}")
    if not changed:
        click.echo(f"{name}: nothing changed ({len(result.changes)} artifact(s) up to date)")


@cli.command()
@click.argument("spec", required=False, default="mlproject.yaml", type=click.Path(dir_okay=False, path_type=str))
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot", "json"]), default="mermaid",
              show_default=True, help="Graph format.")
def graph(spec: str, fmt: str) -> None:
    """Print the pipeline and monitoring DAG."""
    from mlspec.compiler import graph as g
    from mlspec.api import check_project

    checked = check_project(spec)
    if not checked.ok:
        report(checked.diagnostics, "text", _sources([checked]))
        sys.exit(EXIT_INPUT)
    render = {"mermaid": g.to_mermaid, "dot": g.to_dot, "json": g.to_json}[fmt]
    click.echo(render(checked.plan), nl=False)


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of mlproject.yaml."""
    from mlspec.schema import schema_text

    text = schema_text()
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8", newline="\n")
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)


@cli.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Project name (default: the folder's name).")
@click.option("--force", is_flag=True, help="Overwrite an existing mlproject.yaml.")
def init(directory: Path, name: str | None, force: bool) -> None:
    """Scaffold a commented mlproject.yaml."""
    from mlspec.cli.scaffold import init_project

    try:
        path = init_project(directory, name=name, force=force)
    except FileExistsError as exc:
        click.echo(f"mlspec: {exc}; pass --force to overwrite", err=True)
        sys.exit(EXIT_INPUT)
    except (ValueError, OSError) as exc:   # ScaffoldError is a ValueError
        reason = exc if isinstance(exc, ValueError) else f"cannot write in {directory}: {exc.strerror or exc}"
        click.echo(f"mlspec: {reason}", err=True)
        sys.exit(EXIT_INPUT)
    click.echo(f"wrote {path}\nnext: mlspec validate -- {path}")


@cli.command()
@click.argument("spec", required=False, default="mlproject.yaml", type=click.Path(dir_okay=False, path_type=str))
@click.option("--base", "base_rev", metavar="REV",
              help="Git revision to compare with (default: the merge base of HEAD and the default branch).")
@click.option("--base-file", type=click.Path(dir_okay=False, path_type=str),
              help="Compare with this spec file instead of a git revision.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text",
              show_default=True, help="Output format; 'markdown' is ready to post as a pull-request comment.")
def diff(spec: str, base_rev: str | None, base_file: str | None, fmt: str) -> None:
    """Show what a spec change alters: gates, secrets, permissions, nodes, alerts, ….

    Exits 0 whatever changed (risky changes included); 1 only for bad input.
    """
    if base_rev is not None and base_file is not None:
        raise click.UsageError("give either --base or --base-file, not both")
    from mlspec.cli.review import run_diff

    code = run_diff(spec, base_rev=base_rev, base_file=base_file, fmt=fmt)
    sys.exit(code)


@cli.command()
@click.argument("code", required=False)
@FORMAT
def explain(code: str | None, fmt: str) -> None:
    """Show what a diagnostic code means, with an example (no CODE: list all codes)."""
    import difflib

    from mlspec import diagnostics as dx

    if code is None:
        rows = [{"code": c, "title": i.title, "severity": i.severity.value} for c, i in dx.CODES.items()]
        if fmt == "json":
            click.echo(json.dumps({"codes": rows}, indent=2))
        else:
            for r in rows:
                click.echo(f"{r['code']}  {r['severity']:<7}  {r['title']}")
        return
    key = code.strip().upper()
    key = "MS" + key if key.isdigit() else key
    info = dx.CODES.get(key)
    if info is None:
        from mlspec.reporters import clean

        close = difflib.get_close_matches(key.replace("O", "0"), list(dx.CODES), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else "`mlspec explain` lists every code"
        diag = dx.Diagnostic(dx.UNKNOWN_CODE, f"unknown diagnostic code {clean(code)!r}", hint=hint)
        if fmt == "json":
            report([diag], fmt)
        else:
            click.echo(f"mlspec: error[{diag.code}]: {diag.message}\n  hint: {hint}", err=True)
        sys.exit(EXIT_INPUT)
    if fmt == "json":
        click.echo(json.dumps({"code": info.code, "title": info.title, "severity": info.severity.value,
                               "explanation": info.explanation, "example": info.example or None,
                               "help_uri": dx.help_uri(info.code)}, indent=2))
        return
    lines = [f"{info.code}: {info.title} ({info.severity.value})", "", *_wrap(info.explanation)]
    if info.example:
        lines += ["", "Example:", "", *("    " + line for line in info.example.splitlines())]
    lines += ["", f"Docs: {dx.help_uri(info.code)}"]
    click.echo("\n".join(lines))


def _wrap(text: str, width: int = 88) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=width, break_on_hyphens=False) or [""]


@cli.command()
@click.argument("spec", required=False, default="mlproject.yaml", type=click.Path(dir_okay=False, path_type=str))
@click.option("--until", metavar="NODE", help="Run NODE and everything it needs, then stop.")
@click.option("--only", "only", multiple=True, metavar="NODE", help="Run only these nodes (repeatable).")
@click.option("--force", is_flag=True, help="Ignore the run cache; run every selected node.")
@click.option("--no-monitoring", is_flag=True, help="Skip the monitoring graph (drift, freshness, …).")
@click.option("--fail-on-alert", is_flag=True, help="Exit 1 when a monitoring check reports a finding.")
@click.option("--isolated", is_flag=True,
              help="Run every node in its own fresh temporary folder (a copy of the project's source files); "
                   "inputs come from the artifact store and outputs go back to it, as on CI runners.")
@click.option("--store", "store_uri", metavar="URI",
              help="Use this artifact store instead of the spec's storage, e.g. '.mlspec/store' to run "
                   "offline (a folder relative to the spec, or s3://, gs://, az://, abfss://).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), metavar="PAGE.html",
              help="Also write the run's HTML report here (it is always written to .mlspec/runs/<id>/report.html).")
@click.option("--approver", metavar="NAME",
              help="Who approves the pipeline's approval step on this machine (default: $MLSPEC_APPROVER, else "
                   "the user running mlspec); the audit record of the version it registers names them.")
@FORMAT
def run(spec: str, until: str | None, only: tuple[str, ...], force: bool, no_monitoring: bool,
        fail_on_alert: bool, isolated: bool, store_uri: str | None, report_path: str | None, approver: str | None,
        fmt: str) -> None:
    """Run the pipeline on this machine, skipping unchanged nodes."""
    from mlspec.api import check_project
    from mlspec.runtime.execute import Selection, run_plan, select

    checked = check_project(spec, check_targets=False)
    if not checked.ok:
        report(checked.diagnostics, fmt if fmt == "json" else "text", _sources([checked]))
        sys.exit(EXIT_INPUT)
    plan = checked.plan
    try:
        nodes = select(plan, until, only, monitoring=not no_monitoring)
    except Selection as exc:
        raise click.UsageError(str(exc)) from None
    base = checked.doc.base_dir
    from mlspec import diagnostics as dx
    from mlspec.runtime.store import StoreError, open_store

    try:
        store = open_store(plan, base, uri=store_uri)
        if store_uri:   # the nodes' own runtime commands (register, store save, …) use the same store
            os.environ["MLSPEC_STORAGE"] = store_uri
    except StoreError as exc:
        where = ("storage",) if checked.spec.storage is not None and not store_uri else ()
        d = dx.Diagnostic(exc.code, exc.message, file=checked.file, span=checked.doc.span(where) if where else None,
                          path=where, hint=exc.hint)
        report([d], fmt if fmt == "json" else "text", _sources([checked]))
        sys.exit(EXIT_INPUT)

    # Whoever runs the pipeline here is its approver: `mlspec register` (a node) records them.
    from mlspec.runtime.audit import APPROVAL_SOURCE_ENV, APPROVER_ENV, operator

    os.environ[APPROVER_ENV] = approver or os.environ.get(APPROVER_ENV) or operator()
    os.environ[APPROVAL_SOURCE_ENV] = "mlspec run" if approver or not os.environ.get(APPROVAL_SOURCE_ENV) \
        else os.environ[APPROVAL_SOURCE_ENV]

    def progress(event: str, r: Any) -> None:
        if fmt != "text":
            return
        if event == "start":
            click.echo(f"  ▶ {r.id} …", err=True)
        else:
            mark = {"ok": "✓", "cached": "·", "approved": "✓", "alert": "!", "skipped": "-"}.get(r.status, "✗")
            took = f" {r.seconds:.1f}s" if r.seconds else ""
            note = f"  ({r.note})" if r.note else ""
            click.echo(f"  {mark} {r.id} {r.status}{took}{note}", err=True)

    from mlspec.runtime.execute import RunLocked

    try:
        result = run_plan(plan, base, nodes=nodes, force=force, progress=progress, store=store, isolated=isolated,
                          run_id=os.environ.get("MLSPEC_RUN_ID") or None)
    except RunLocked as exc:
        holder = f" (pid {exc.pid})" if exc.pid else ""
        report([dx.Diagnostic(dx.RUN_LOCKED, f"another mlspec run is running in this folder{holder}",
                              file=checked.file, hint="wait for it to finish, or stop it, then run again")],
               fmt if fmt == "json" else "text")
        sys.exit(EXIT_INPUT)
    alerts = [r for r in result.results if r.status == "alert"]
    failed = result.failed or (fail_on_alert and bool(alerts))

    pages, page_problems = _run_reports(checked, result, base, report_path)
    failed = failed or any(d.is_error for d in page_problems)
    diags = [dx.Diagnostic(dx.RUN_CACHE_RESET, w, dx.Severity.WARNING, file=checked.file) for w in result.warnings]
    diags += [dx.Diagnostic(dx.NODE_FAILED, f"{r.id} failed ({r.note})" + (f"; log: {r.log}" if r.log else ""),
                            file=checked.file, span=checked.doc.span(plan.node(r.id).spec_path),
                            path=plan.node(r.id).spec_path)
              for r in result.results if r.status == "failed"] + page_problems
    if result.interrupted:
        import signal as _signal

        name = _signal.Signals(result.signal or _signal.SIGINT).name
        stopped = [r.id for r in result.results if r.status == "interrupted"]
        diags.append(dx.Diagnostic(dx.RUN_INTERRUPTED, f"run stopped by {name}" + (
            f"; {stopped[0]} and its processes were stopped and nothing was recorded for it" if stopped else ""),
            file=checked.file))
    if fmt == "json":
        click.echo(json.dumps({"run_id": result.run_id, "interrupted": result.interrupted,
                               "nodes": [r.__dict__ for r in result.results], "reports": pages,
                               "diagnostics": [d.to_json() for d in diags]}, indent=2))
    else:
        width = max((len(r.id) for r in result.results), default=4)
        click.echo(f"{'node':<{width}}  {'status':<11}  {'seconds':>7}  log / note")
        for r in result.results:
            detail = r.log or r.note
            if r.log and r.note:
                detail = f"{r.log}  ({r.note})"
            click.echo(f"{r.id:<{width}}  {r.status:<11}  {r.seconds:>7.1f}  {detail}")
        report(diags, "text", _sources([checked]))
        click.echo(f"run {result.run_id}: " + ("interrupted" if result.interrupted else
                   "failed" if result.failed else "ok") + (f", {len(alerts)} monitoring alert(s)" if alerts else "")
                   + (f"; report: {pages[-1]}" if pages else ""))
    if result.interrupted:
        sys.exit(128 + (result.signal or 2))     # the shell's convention: 130 Ctrl-C, 143 SIGTERM
    sys.exit(EXIT_INPUT if failed else EXIT_OK)


def _run_reports(checked: Any, result: Any, base: Path, report: str | None) -> tuple[list[str], list]:
    """Write the run's page beside its logs (and to ``--report``). A page that cannot be
    written is a warning (MS641) when it is the default one: the run's verdict stands."""
    from mlspec import diagnostics as dx
    from mlspec.runtime.reports import eval_report, run_report
    from mlspec.runtime.reports import html as H

    plan = checked.plan
    targets = ([(base / result.log_dir / "report.html", False)] if result.log_dir else [])
    targets += [(Path(report), True)] if report else []
    written, problems = [], []
    for path, explicit in targets:
        page = run_report.render(project=plan.project.name, spec=checked.file, result=result, plan=plan, base=base,
                                 page_dir=path.parent.resolve(), outputs=eval_report.spec_outputs(plan))
        try:
            H.write(path, page)
            written.append(os.path.relpath(path))
        except OSError as exc:
            problems.append(dx.Diagnostic(dx.REPORT_NOT_WRITTEN, f"cannot write the run report {path}: "
                                          f"{exc.strerror or exc}", dx.Severity.ERROR if explicit else
                                          dx.Severity.WARNING, file=str(path)))
    return written, problems


# --------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; any unexpected exception becomes exit 3 with a one-line report."""
    args = sys.argv[1:] if argv is None else argv
    show_traceback = "--traceback" in args or os.environ.get("MLSPEC_TRACEBACK") == "1"
    try:
        cli.main(args=args, prog_name="mlspec", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INPUT)
    except click.UsageError as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_INPUT)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BaseException as exc:  # noqa: BLE001 - the contract: never a raw traceback
        if show_traceback:
            import traceback
            traceback.print_exc()
        message = str(exc).splitlines()[0] if str(exc) else ""
        message = "".join(c if c.isprintable() else "?" for c in message)[:300]
        click.echo(f"mlspec: internal error[MS901]: {type(exc).__name__}: {message} — this is a bug; "
                   f"please report it at {ISSUES_URL} with the output of --traceback", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main()
