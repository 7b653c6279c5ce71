"""`mlspec store save|restore`: move a node's outputs through the artifact store, so that the
nodes of one run can execute on different machines and share nothing else. Every target's
pipeline calls these around a node; `mlspec run` calls the same functions."""

from __future__ import annotations

from pathlib import Path

import click

from mlspec.runtime.common import Context, Failure, Outcome, run_command, table

SPEC = click.argument("spec", required=False, default="mlproject.yaml", type=click.Path(dir_okay=False))
NODE = click.option("--node", "node_name", required=True, metavar="ID",
                    help="The node (id such as 'train' or 'step.prepare', or a reference such as 'steps.prepare').")
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
def save(spec: str, node_name: str, run: str | None, fmt: str) -> None:
    """Hash and upload the node's declared outputs; record them (and its inputs' hashes) for the run."""
    run_command("store save", spec, fmt, lambda ctx: _move(ctx, "save", node_name, run))


@store.command()
@SPEC
@NODE
@RUN
@FORMAT
def restore(spec: str, node_name: str, run: str | None, fmt: str) -> None:
    """Download the inputs the node needs from the records of the nodes that produced them."""
    run_command("store restore", spec, fmt, lambda ctx: _move(ctx, "restore", node_name, run))


def _move(ctx: Context, action: str, node_name: str, run_opt: str | None) -> Outcome:
    from mlspec.runtime import store as st
    from mlspec.runtime.execute import Selection, resolve_names

    try:
        (node_id,) = resolve_names(ctx.plan, [node_name])
    except Selection as exc:
        raise click.UsageError(str(exc)) from None
    node = ctx.plan.node(node_id)
    run = st.run_id_from_env({"MLSPEC_RUN_ID": run_opt}) if run_opt else st.run_id_from_env()
    base = Path(ctx.spec_dir)
    try:
        s = st.open_store(ctx.plan, base)
        if action == "save":
            files = st.save_node(s, node, base, run)["outputs"]
        else:
            files = st.restore_node(s, ctx.plan, node, base, run)
    except st.StoreError as exc:
        raise Failure(exc.code, exc.message, hint=exc.hint, path=node.spec_path or ("storage",)) from None
    verb = "saved" if action == "save" else "restored"
    text = table(["file", "sha256"], [[f, d[:16]] for f, d in sorted(files.items())]) if files else ""
    text += f"{node_id}: {len(files)} file(s) {verb} ({'to' if action == 'save' else 'from'} {s.uri}, run {run})\n"
    return Outcome(True, {"node": node_id, "run": run, "store": s.uri, "files": files}, text)
