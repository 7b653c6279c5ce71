"""The pipeline graph. networkx stays inside this module.

Nodes are namespaced ids (``check.customers``, ``step.prepare``, ``train``, ``gate``);
every edge remembers the spec path where the user wrote the reference, so cycles are
reported at the user's line. Order is the lexicographical topological sort over a key
that does not depend on YAML key order, so output is stable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from mlspec.diagnostics import SpecPath

KIND_RANK = {kind: i for i, kind in enumerate((
    "fetch", "data_check", "step", "train", "evaluate", "eval", "gate", "approve", "register", "build", "deploy",
    "monitor_schema", "monitor_freshness", "monitor_drift", "monitor_performance", "monitor_check", "retrain"))}


@dataclass(frozen=True)
class Edge:
    """A dependency between two nodes."""

    before: str                 # node id that runs first
    after: str                  # node id that depends on it
    spec_path: SpecPath | None  # where the user wrote it; None for implicit edges
    label: str                  # the reference as the user wrote it ("steps.prepare")


@dataclass(frozen=True)
class Cycle:
    """Nodes that need each other in a ring, as found."""

    nodes: tuple[str, ...]      # labels in order, first repeated at the end
    spec_path: SpecPath         # the reference that closes the cycle


def order_and_cycles(
    nodes: dict[str, str], edges: Sequence[Edge],
) -> tuple[list[str], list[Cycle]]:
    """Topological order of ``nodes`` (id -> kind) and any cycles among ``edges``.

    The order is the lexicographical topological sort over (kind rank, id): Kahn's algorithm
    with a heap, iterative and linear up to the heap's log factor, without importing networkx
    (its import alone costs more than ordering thousands of nodes). Only a graph with a cycle,
    the rare path, imports networkx to name every cycle."""
    import heapq

    key = {n: (KIND_RANK.get(kind, 99), n) for n, kind in nodes.items()}
    children: dict[str, list[str]] = {n: [] for n in nodes}
    indegree = dict.fromkeys(nodes, 0)
    seen: set[tuple[str, str]] = set()
    for e in edges:
        if (e.before, e.after) in seen:   # a DiGraph keeps one edge per pair
            continue
        seen.add((e.before, e.after))
        children[e.before].append(e.after)
        indegree[e.after] += 1
    heap = [key[n] for n, d in indegree.items() if d == 0]
    heapq.heapify(heap)
    order: list[str] = []
    while heap:
        _, n = heapq.heappop(heap)
        order.append(n)
        for c in children[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                heapq.heappush(heap, key[c])
    if len(order) == len(nodes):
        return order, []
    return [], _cycles(nodes, edges)


def _cycles(nodes: dict[str, str], edges: Sequence[Edge]) -> list[Cycle]:
    import networkx as nx

    g = nx.DiGraph()
    for node_id in nodes:
        g.add_node(node_id)
    for e in edges:
        g.add_edge(e.before, e.after, edge=e)
    cycles: list[Cycle] = []
    for component in sorted(nx.strongly_connected_components(g), key=lambda c: sorted(c)):
        if len(component) == 1:
            (only,) = component
            if not g.has_edge(only, only):
                continue
        sub = g.subgraph(component)
        start = min(component)
        cycle_edges = [sub.edges[u, v]["edge"] for u, v in nx.find_cycle(sub, source=start)]
        written = [e for e in cycle_edges if e.spec_path is not None]
        closing = max(written, key=lambda e: e.spec_path) if written else cycle_edges[-1]
        # Rotate so that the cycle reads from the node whose reference closes it.
        i = cycle_edges.index(closing)
        rotated = cycle_edges[i + 1:] + cycle_edges[: i + 1]
        names = tuple(_display(e.before) for e in rotated) + (_display(rotated[0].before),)
        cycles.append(Cycle(names, closing.spec_path or ()))
    return cycles


def _display(node_id: str) -> str:
    """The node as the user refers to it in `needs`."""
    if node_id.startswith("step."):
        return "steps." + node_id[5:]
    if node_id.startswith("check."):
        return "data." + node_id[6:]
    if node_id.startswith("fetch."):
        return "data." + node_id[6:] + " (fetch)"
    return {"train": "training", "evaluate": "validation"}.get(node_id, node_id)


# --------------------------------------------------------------------------- renderers


def _nodes_and_edges(plan) -> tuple[list, list[tuple[str, str]]]:
    nodes = list(plan.nodes) + list(plan.monitor_nodes)
    edges = [(dep, n.id) for n in nodes for dep in n.needs]
    return nodes, edges


def to_mermaid(plan) -> str:
    """Mermaid flowchart (GitHub renders it in Markdown)."""
    nodes, edges = _nodes_and_edges(plan)
    lines = ["flowchart LR"]
    for n in nodes:
        label = n.title.replace('"', "'").replace("<", "‹").replace(">", "›")
        shape = ("{{", "}}") if n.kind in ("gate", "approve") else ("[", "]")
        lines.append(f'  {n.slug}{shape[0]}"{label}"{shape[1]}')
    for before, after in edges:
        lines.append(f"  {plan.node(before).slug} --> {plan.node(after).slug}")
    return "\n".join(lines) + "\n"


def to_dot(plan) -> str:
    nodes, edges = _nodes_and_edges(plan)
    lines = [f"digraph {json.dumps(plan.project.name)} {{", "  rankdir=LR;"]
    for n in nodes:
        shape = "diamond" if n.kind in ("gate", "approve") else "box"
        lines.append(f"  {json.dumps(n.id)} [label={json.dumps(n.title)}, shape={shape}];")
    for before, after in edges:
        lines.append(f"  {json.dumps(before)} -> {json.dumps(after)};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_json(plan) -> str:
    nodes, edges = _nodes_and_edges(plan)
    payload = {
        "project": plan.project.name,
        "nodes": [{"id": n.id, "kind": n.kind, "title": n.title, "command": n.command,
                   "graph": "monitoring" if n in plan.monitor_nodes else "pipeline"} for n in nodes],
        "edges": [{"from": b, "to": a} for b, a in edges],
    }
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
