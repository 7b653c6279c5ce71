"""`mlspec store save|restore`: move a node's outputs through the artifact store, so that the
nodes of one run can execute on different machines and share nothing else. Every target's
pipeline calls these around a node; `mlspec run` calls the same functions."""

from __future__ import annotations

from pathlib import Path

import click

from mlspec.runtime.cli_options import STATE_OPTION
from mlspec.runtime.common import Context, Failure, Outcome, run_command, table

SPEC = click.argument("spec", required=False, default="mlproject.yaml", type=click.Path(dir_okay=False))
NODE = click.option("--node", "node_names", required=True, multiple=True, metavar="ID",
                    help="The node (id such as 'train' or 'step.prepare', or a reference such as 'steps.prepare'); "
                         "repeat it for the nodes of one job.")
PATHS = click.option("--path", "paths", multiple=True, metavar="PATH",
                     help="Restore only this input (repeatable): a job that runs several nodes restores only "
                          "the inputs produced outside it.")
RUN = click.option("--run", "run", metavar="RUN",
                   help="The run id (default: $MLSPEC_RUN_ID, else $GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT, else "
                        "Airflow's DAG run, else 'local').")
FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                      help="Output format.")


@click.group()
def store() -> None:
    """Save a node's outputs to the artifact store, or restore the inputs a node needs."""


@store.command()
@SPEC
@NODE
@RUN
@FORMAT
def save(spec: str, node_names: tuple[str, ...], run: str | None, fmt: str) -> None:
    """Hash and upload the node's declared outputs; record them (and its inputs' hashes) for the run."""
    run_command("store save", spec, fmt, lambda ctx: _move(ctx, "save", node_names, run, ()))


@store.command()
@SPEC
@NODE
@PATHS
@RUN
@FORMAT
def restore(spec: str, node_names: tuple[str, ...], paths: tuple[str, ...], run: str | None, fmt: str) -> None:
    """Download the inputs the node needs from the records of the nodes that produced them."""
    run_command("store restore", spec, fmt, lambda ctx: _move(ctx, "restore", node_names, run, paths))


def _move(ctx: Context, action: str, node_names: tuple[str, ...], run_opt: str | None,
          paths: tuple[str, ...]) -> Outcome:
    from mlspec.runtime import store as st
    from mlspec.runtime.execute import Selection, resolve_names

    try:
        node_ids = list(dict.fromkeys(resolve_names(ctx.plan, list(node_names))))
    except Selection as exc:
        raise click.UsageError(str(exc)) from None
    nodes = [ctx.plan.node(n) for n in node_ids]
    run = st.run_id_from_env({"MLSPEC_RUN_ID": run_opt}) if run_opt else st.run_id_from_env()
    base = Path(ctx.spec_dir)
    files: dict[str, str] = {}
    node = nodes[0]
    try:
        s = st.open_store(ctx.plan, base)
        for node in nodes:
            if action == "save":
                files.update(st.save_node(s, node, base, run)["outputs"])
            else:
                # The nodes named together run in one job: what one of them makes, the next one
                # finds on the disk; only what other jobs made comes from the store.
                files.update(st.restore_node(s, ctx.plan, node, base, run, made_here=set(node_ids),
                                             only=set(paths) if paths else None))
    except st.StoreError as exc:
        raise Failure(exc.code, exc.message, hint=exc.hint, path=node.spec_path or ("storage",)) from None
    missing = [p for p in paths if not any(f == p or f.startswith(p.rstrip("/") + "/") for f in files)]
    if missing:
        raise click.UsageError(f"--path {missing[0]!r}: no node upstream of {', '.join(node_ids)} produces it")
    verb = "saved" if action == "save" else "restored"
    text = table(["file", "sha256"], [[f, d[:16]] for f, d in sorted(files.items())]) if files else ""
    what = ", ".join(node_ids)
    text += f"{what}: {len(files)} file(s) {verb} ({'to' if action == 'save' else 'from'} {s.uri}, run {run})\n"
    data: dict[str, object] = {"node": node_ids[0] if len(node_ids) == 1 else node_ids, "nodes": node_ids,
                               "run": run, "store": s.uri, "files": files}
    return Outcome(True, data, text)


# ------------------------------------------------------------------ monitoring state

STATE_REFS = "monitoring"
# What restore-state found, so save-state uploads only what this machine changed: checks that
# run side by side each write their own file and never overwrite another's newer one.
RESTORED_MANIFEST = ".restored.json"


@store.command(name="restore-state")
@SPEC
@STATE_OPTION
@FORMAT
def restore_state(spec: str, state_dir: str | None, fmt: str) -> None:
    """Download the monitoring state (check results, the retrain cooldown) from the store."""
    run_command("store restore-state", spec, fmt, lambda ctx: _state(ctx, "restore", state_dir))


@store.command(name="save-state")
@SPEC
@STATE_OPTION
@FORMAT
def save_state(spec: str, state_dir: str | None, fmt: str) -> None:
    """Upload the monitoring state files this machine changed since restore-state."""
    run_command("store save-state", spec, fmt, lambda ctx: _state(ctx, "save", state_dir))


def _state(ctx: Context, action: str, state_dir: str | None) -> Outcome:
    """The monitoring state lives in the store when no disk is shared between the checks, the
    retrain decision and the next run (Airflow with isolated tasks): ``refs/monitoring/<file>``."""
    import hashlib
    import json

    from mlspec.runtime import store as st
    from mlspec.runtime.common import write_atomic

    folder = ctx.state_dir(state_dir)
    manifest_path = folder / RESTORED_MANIFEST
    moved: list[str] = []
    try:
        s = st.open_store(ctx.plan, Path(ctx.spec_dir))
        if action == "restore":
            seen: dict[str, str] = {}
            for ref in s.list_refs(STATE_REFS):
                name = ref.split("/", 1)[1]
                if "/" in name or not name.endswith(".json") or name.startswith("."):
                    continue
                data = s.read_ref(ref, limit=4 * 1024 * 1024)
                if data is None:
                    continue
                folder.mkdir(parents=True, exist_ok=True)
                write_atomic(folder / name, data.decode("utf-8", "replace"))
                seen[name] = hashlib.sha256(data).hexdigest()
                moved.append(name)
            folder.mkdir(parents=True, exist_ok=True)
            write_atomic(manifest_path, json.dumps(seen, sort_keys=True))
        else:
            try:
                restored = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                restored = {}
            for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                if path.name.startswith("."):
                    continue
                data = path.read_bytes()
                if restored.get(path.name) == hashlib.sha256(data).hexdigest():
                    continue
                s.write_ref(f"{STATE_REFS}/{path.name}", data)
                moved.append(path.name)
    except st.StoreError as exc:
        raise Failure(exc.code, exc.message, hint=exc.hint, path=("storage",)) from None
    except OSError as exc:
        raise Failure("MS650", f"monitoring state folder {ctx.shown(folder)}: {exc.strerror or exc}",
                      path=("storage",)) from None
    verb = "restored from" if action == "restore" else "saved to"
    text = f"monitoring state: {len(moved)} file(s) {verb} {s.uri}" + (f": {', '.join(moved)}" if moved else "") + "\n"
    return Outcome(True, {"files": moved, "store": s.uri, "state_dir": ctx.shown(folder)}, text)
