"""Spec → Plan: resolve references, expand interpolations, order the graph.

Phase 2 of the compiler. References that do not resolve, malformed interpolations and
cycles are diagnostics (MS2xx) positioned at the user's text; the Plan is built only when
there are none.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from mlspec import diagnostics as dx
from mlspec._version import DISTRIBUTION, __version__
from mlspec.compiler import plan as p
from mlspec.diagnostics import Diagnostic, Span, SpecPath
from mlspec.suggest import closest, did_you_mean
from mlspec.language.document import Document
from mlspec.compiler.graph import Edge, order_and_cycles
from mlspec.naming import sanitize_source, strip_namespace
from mlspec.compiler.interpolate import PRODUCTION_MODEL, InterpolationError, shell_value, tokenize, uses_production
from mlspec.language.rules import contract_source
from mlspec.language import models as m
from mlspec.language.params import LoadedParams, flatten, leaves
from mlspec.language.target_options import ImageOptions
from mlspec.language.types import (
    FORMAT_OF_EXTENSION, cpu_cores, cron_expression, cron_period_seconds, duration_seconds, memory_bytes, uri_scheme,
)


# Lock files a requirements file may have beside it, in the order they are looked for.
_LOCK_FILES = ("requirements.lock", "uv.lock", "poetry.lock", "pdm.lock", "Pipfile.lock")


def _sha256_file(path: Any) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


@dataclass
class _Graph:
    """The pipeline graph while it is built: node entries by id (the keyword fields of a
    :class:`plan.Node`, finished by ``Resolver._make_node``) and the edges between them, each
    remembering where the user wrote it."""

    refs: dict[str, str]                      # every valid reference -> node id
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)

    def node(self, node_id: str, kind: str, title: str, **fields: Any) -> dict[str, Any]:
        entry = {"id": node_id, "kind": kind, "title": title, **fields}
        self.nodes[node_id] = entry
        return entry


class Resolver:
    """Builds the Plan from a valid Spec; collects phase-2 diagnostics on the way."""

    def __init__(self, spec: m.Spec, doc: Document, *, image_options: ImageOptions,
                 spec_dir: str = ".", params: dict[str, Any] | None = None,
                 params_spans: dict[tuple[str, ...], Span] | None = None, params_file_name: str | None = None) -> None:
        self.spec = spec
        self.doc = doc
        self.params = params if params is not None else dict(spec.params)
        self.params_spans = params_spans or {}
        self.params_file_name = params_file_name
        self.params_used: set[str] = set()
        self.image_options = image_options
        self.spec_dir = spec_dir
        self.diags: list[Diagnostic] = []
        self._values: dict[str, Any] | None = None

    # ------------------------------------------------------------------ helpers

    def error(self, code: str, message: str, path: SpecPath, hint: str | None = None,
              span: Span | None = None) -> None:
        self.diags.append(Diagnostic(code, message, span=span or self.doc.span(path), path=path, hint=hint))

    def ref_targets(self) -> dict[str, str]:
        """Every valid reference -> node id (data refs map to their check node or '')."""
        refs = {f"data.{n}": f"check.{n}" for n in sorted(self.spec.data)}
        refs.update({f"steps.{n}": f"step.{n}" for n in sorted(self.spec.steps)})
        if self.spec.training:
            refs["training"] = "train"
        if self.spec.validation:
            refs["validation"] = "evaluate"
        return refs

    def unknown_ref(self, ref: str, path: SpecPath, where: str, choices: Iterable[str]) -> None:
        self.error(dx.UNKNOWN_REFERENCE, f"unknown reference {ref!r} in {where}", path,
                   hint=did_you_mean(ref, choices) or _known_hint(ref, choices))

    # ------------------------------------------------------------------ interpolation

    def interpolation_values(self) -> dict[str, Any]:
        """What ``${…}`` may name, and its value (computed once: every command reads it)."""
        if self._values is None:
            self._values = self._interpolation_values()
        return self._values

    def _interpolation_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {f"params.{k}": v for k, v in flatten(self.params).items()}
        values["project.name"] = self.spec.project.name
        for name, src in self.spec.data.items():
            values[f"data.{name}.uri"] = src.uri
            if src.version is not None:
                values[f"data.{name}.version"] = src.version
        if self.spec.training:
            values["training.outputs.model"] = self.spec.training.outputs.model
            if self.spec.training.outputs.metrics:
                values["training.outputs.metrics"] = self.spec.training.outputs.metrics
        if self.spec.validation:
            values["validation.metrics"] = self.spec.validation.metrics
        if self.spec.registry:
            values[PRODUCTION_MODEL] = p.production_model_path(self._model_path())
        return values

    def _model_path(self) -> str | None:
        return self.spec.training.outputs.model if self.spec.training else None

    def expand(self, command: str, path: SpecPath, *, uris: dict[str, str] | None = None,
               quiet: bool = False) -> tuple[str, list[str], list[str]]:
        """Expanded command, params used, data sources used. ``uris`` replaces sources' uris (their
        samples); ``quiet`` expands a command already reported on, recording nothing."""
        values = self.interpolation_values()
        if uris:
            values = {**values, **{f"data.{n}.uri": u for n, u in uris.items()}}
        try:
            tokens = tokenize(command)
        except InterpolationError as exc:
            if quiet:
                return command, [], []
            self.error(dx.BAD_INTERPOLATION, f"{exc} in {dx.format_path(path)}", path,
                       hint="write '$${' for a literal '${'", span=self._offset_span(path, command, exc.offset))
            return command, [], []
        out: list[str] = []
        params: set[str] = set()
        data: set[str] = set()
        for t in tokens:
            if t.ref is None:
                out.append(t.text)
                continue
            if t.ref not in values:
                if not quiet:
                    self._bad_interpolation(t.ref, values, path, command, t.offset)
                out.append(t.text)
                continue
            out.append(shell_value(_param_text(values[t.ref])))
            parts = t.ref.split(".")
            if parts[0] == "params":
                params.add(t.ref[len("params."):])
                if not quiet:
                    self.params_used.add(t.ref[len("params."):])
            elif parts[0] == "data":
                data.add(parts[1])
        return "".join(out), sorted(params), sorted(data)

    def sampled(self, command: str, data: list[str]) -> str | None:
        """``command`` expanded with each sampled source's ``sample`` in place of its uri, when it
        reads one (already validated by :meth:`expand`, so nothing is reported here)."""
        samples = {n: self.spec.data[n].sample for n in data if n in self.spec.data and self.spec.data[n].sample}
        return self.expand(command, (), uris=samples, quiet=True)[0] if samples else None

    def _bad_interpolation(self, ref: str, values: dict[str, Any], path: SpecPath, command: str,
                           offset: int) -> None:
        parts = ref.split(".")
        hint = None
        if parts[0] == "data" and len(parts) == 3 and parts[2] == "version" and parts[1] in self.spec.data:
            message = f"'${{{ref}}}' in {dx.format_path(path)}: data source {parts[1]!r} has no version"
            hint = f"add 'version:' to data.{parts[1]}"
        elif ref == "training.outputs.metrics" and self.spec.training:
            message = f"'${{{ref}}}' in {dx.format_path(path)}: training.outputs.metrics is not set"
        elif ref == PRODUCTION_MODEL:
            self.error(dx.PRODUCTION_WITHOUT_REGISTRY, f"'${{{ref}}}' in {dx.format_path(path)}: the spec has "
                       "no `registry`, so there is no production model to fetch", path,
                       hint="add a registry section (registry: {backend: local, model_name: NAME})",
                       span=self._offset_span(path, command, offset))
            return
        else:
            message = f"unknown interpolation '${{{ref}}}' in {dx.format_path(path)}"
            match = closest(ref, values)
            hint = f"did you mean '${{{match}}}'?" if match else (
                "interpolations are ${params.NAME}, ${data.NAME.uri}, ${data.NAME.version}, "
                "${project.name}, ${training.outputs.model}, ${training.outputs.metrics}, "
                "${validation.metrics}, ${registry.production.model}")
        self.error(dx.UNKNOWN_INTERPOLATION, message, path, hint=hint,
                   span=self._offset_span(path, command, offset))

    def _offset_span(self, path: SpecPath, command: str, offset: int) -> Span | None:
        """Point inside a one-line plain or quoted scalar when its source text allows it."""
        span = self.doc.values.get(path)
        if not span or span.end_line != span.line:
            return span
        lines = self.doc.text.splitlines()
        line = lines[span.line - 1] if 0 < span.line <= len(lines) else ""
        raw = line[span.column - 1: (span.end_column or 0) - 1]
        shift = 1 if raw[:1] in ("'", '"') else 0
        if raw[shift:shift + len(command)] == command:
            return Span(span.line, span.column + shift + offset)
        return span

    # ------------------------------------------------------------------ build

    def resolve(self) -> p.Plan | None:
        """The pipeline graph in lifecycle order, checked and ordered, then the scheduled graph
        and the rest of the Plan. Node entries are added in a fixed order (steps, train, evals,
        evaluate, gate, approve, register, build, fetches, data checks) that the graph's
        ordering does not depend on but its cycle reports do."""
        env_secrets = tuple(sorted(self.spec.environment.secrets))
        self._check_secret_subset(env_secrets)
        g = _Graph(self.ref_targets())
        eval_nodes = self._work_nodes(g, env_secrets)
        self._lifecycle_nodes(g, eval_nodes, env_secrets)
        self._data_nodes(g, env_secrets)
        self._check_other_refs(g.refs)
        if any(d.is_error for d in self.diags):
            return None
        pipeline = self._ordered_nodes(g)
        if pipeline is None:
            return None
        monitor = self._monitor_nodes(env_secrets)
        self._serving()  # its command's interpolations count as uses
        self._check_unused_params()
        if any(d.is_error for d in self.diags):
            return None
        return self._plan(pipeline, monitor)

    def _add_needs(self, g: _Graph, node_id: str, needs: list[str], base: SpecPath, where: str) -> list[str]:
        """An edge per valid reference in ``needs``; returns the data sources among them."""
        data_used = []
        for i, ref in enumerate(needs):
            path = (*base, i)
            if ref not in g.refs:
                self.unknown_ref(ref, path, where, g.refs)
                continue
            target = g.refs[ref]
            if target == node_id:
                self.error(dx.SELF_REFERENCE, f"{where} lists itself ({ref!r})", path)
                continue
            if ref.startswith("data."):
                data_used.append(strip_namespace(ref))
            g.edges.append(Edge(target, node_id, path, ref))
        return data_used

    def _work_nodes(self, g: _Graph, env_secrets: tuple[str, ...]) -> list[str]:
        """The user's commands: steps, training, LLM evals, validation. Returns the eval node ids."""
        spec = self.spec
        for name in sorted(spec.steps):
            step = spec.steps[name]
            base = ("steps", name)
            cmd, params, data = self.expand(step.run, (*base, "run"))
            params = self._declared_params(params, step.params, (*base, "params"))
            used = self._add_needs(g, f"step.{name}", step.needs, (*base, "needs"), f"steps.{name}.needs")
            g.node(f"step.{name}", "step", f"step {name}", command=cmd, params=params,
                   sample_command=self.sampled(step.run, data),
                   fetch_production=uses_production(step.run),
                   data=sorted(set(data) | set(used)), description=step.description,
                   inputs=step.inputs, outputs=step.outputs, resources=step.resources,
                   timeout=step.timeout, retries=step.retries, env=step.env,
                   secrets=_secrets(step.secrets, env_secrets), spec_path=base)

        if spec.training:
            t = spec.training
            cmd, params, data = self.expand(t.run, ("training", "run"))
            params = self._declared_params(params, t.params, ("training", "params"))
            used = self._add_needs(g, "train", t.needs, ("training", "needs"), "training.needs")
            env = dict(t.env)
            if t.seed is not None:
                env.setdefault("MLSPEC_SEED", str(t.seed))
            outputs = [t.outputs.model] + ([t.outputs.metrics] if t.outputs.metrics else [])
            g.node("train", "train", "train", command=cmd, params=params, data=sorted(set(data) | set(used)),
                   sample_command=self.sampled(t.run, data),
                   fetch_production=uses_production(t.run),
                   description=t.description, inputs=t.inputs, outputs=outputs, resources=t.resources,
                   timeout=t.timeout, retries=t.retries, env=env, secrets=_secrets(t.secrets, env_secrets),
                   spec_path=("training",))

        eval_nodes = self._eval_nodes(g, env_secrets)
        if spec.validation:
            v = spec.validation
            cmd, params, data = self.expand(v.run, ("validation", "run"))
            params = self._declared_params(params, v.params, ("validation", "params"))
            used = self._add_needs(g, "evaluate", v.needs, ("validation", "needs"), "validation.needs")
            if spec.training:
                g.edges.append(Edge("train", "evaluate", None, "training"))
            g.node("evaluate", "evaluate", "evaluate", command=cmd, params=params,
                   sample_command=self.sampled(v.run, data),
                   fetch_production=uses_production(v.run),
                   data=sorted(set(data) | set(used)), description=v.description, inputs=v.inputs,
                   outputs=[v.metrics, *v.outputs], resources=v.resources, timeout=v.timeout, retries=v.retries,
                   env=v.env, secrets=_secrets(v.secrets, env_secrets), spec_path=("validation",))
        return eval_nodes

    def _lifecycle_nodes(self, g: _Graph, eval_nodes: list[str], env_secrets: tuple[str, ...]) -> None:
        """What follows a model's evaluation, each after the last: gate, approve, register, build."""
        spec = self.spec
        last = "evaluate" if spec.validation else "train" if spec.training else None
        if spec.validation:
            v = spec.validation
            if v.gates:
                # `mlspec gate` reads the evaluation's metrics (eval summaries come from its needs).
                g.node("gate", "gate", "gates", command=f"mlspec gate -- {self._spec_arg()}", runtime=True,
                       spec_path=("validation", "gates"), uses_image=True, inputs=[v.metrics],
                       description=", ".join(gate.describe() for gate in _gates(v.gates)))
                g.edges.append(Edge("evaluate", "gate", None, "validation"))
                # Gates may read eval scores (`evals.NAME.score`): every eval runs before them.
                g.edges += [Edge(e, "gate", None, e) for e in eval_nodes]
                last = "gate"
            if v.approval.required:
                g.node("approve", "approve", "approval", command=None, spec_path=("validation", "approval"),
                       uses_image=False)
                g.edges.append(Edge(last, "approve", None, last))
                last = "approve"

        if spec.registry and last:
            # `mlspec register` reads the model and the evaluation's metrics: inputs of its own, since
            # the nodes it needs directly (gate, approve) write neither.
            reads = [f for f in (self._model_path(), spec.validation.metrics if spec.validation else None) if f]
            g.node("register", "register", "register model", command=f"mlspec register -- {self._spec_arg()}",
                   runtime=True, secrets=env_secrets, spec_path=("registry",), inputs=reads)
            g.edges.append(Edge(last, "register", None, last))
            # Without gates the evals still come before a release (they fail the run when out of bounds).
            g.edges += [Edge(e, "register", None, e) for e in eval_nodes if last != "gate"]
            last = "register"

        if spec.serving and last and self._serve_image_emitted():
            g.node("build", "build", "build serving image", command=None, spec_path=("serving",),
                   uses_image=False)
            g.edges.append(Edge(last, "build", None, last))

    def _data_nodes(self, g: _Graph, env_secrets: tuple[str, ...]) -> None:
        """Fetches and column-contract checks of the sources the pipeline uses, ordered before
        their readers and after their writers; references to plain inputs dropped."""
        spec = self.spec
        nodes = g.nodes
        data_checks = {n for n, s in spec.data.items() if s.schema_}
        used_sources = {d for n in nodes.values() for d in n.get("data", [])}
        self._check_data_on_runners(used_sources, {posixpath.normpath(o) for e in nodes.values()
                                                   for o in e.get("outputs", ())})
        # Data that is not in git: its fetch command runs first and "writes" the source's uri, so the
        # producer edges below order the check (and, without a check, the readers) after it.
        for name in sorted(used_sources):
            src = spec.data[name]
            if src.fetch is not None:
                cmd, _, _ = self.expand(src.fetch, ("data", name, "fetch"))
                g.node(f"fetch.{name}", "fetch", f"fetch data {name}", command=cmd, data=[name],
                       outputs=[src.uri] if uri_scheme(src.uri) is None else [], secrets=env_secrets,
                       spec_path=("data", name, "fetch"))
        for name in sorted(used_sources & data_checks):
            sample = spec.data[name].sample
            g.node(f"check.{name}", "data_check", f"check data {name}",
                   command=f"mlspec check-data -- {self._spec_arg()} {name}", runtime=True,
                   sample_command=(f"mlspec check-data --file={shell_value(sample)} -- {self._spec_arg()} {name}"
                                   if sample else None),
                   data=[name], secrets=env_secrets, spec_path=("data", name))
        # A source a step writes (its uri among the step's outputs) is checked after that step.
        for name in sorted(used_sources & data_checks):
            uri = posixpath.normpath(spec.data[name].uri)
            for node_id, entry in sorted(nodes.items()):
                if node_id != f"check.{name}" and uri in {posixpath.normpath(o) for o in entry.get("outputs", ())}:
                    g.edges.append(Edge(node_id, f"check.{name}", None, f"data.{name}"))
        # `needs: [data.X]` without a contract: nothing to run, the data is just an input.
        g.edges = [e for e in g.edges if e.before in nodes]
        linked = {(e.before, e.after) for e in g.edges}
        for node_id, entry in sorted(nodes.items()):
            for d in entry.get("data", ()):
                check, fetch = f"check.{d}", f"fetch.{d}"
                first = check if check in nodes else fetch
                if first in nodes and first != node_id and node_id not in (check, fetch) \
                        and (first, node_id) not in linked:
                    g.edges.append(Edge(first, node_id, None, f"data.{d}"))

    def _ordered_nodes(self, g: _Graph) -> tuple[p.Node, ...] | None:
        """The Plan's pipeline nodes in graph order, each with its direct needs and their outputs
        as inputs (linear in the graph's size); None (and MS2xx) on a cycle."""
        nodes, edges = g.nodes, g.edges
        kinds = {n: e["kind"] for n, e in nodes.items()}
        order, cycles = order_and_cycles(kinds, edges)
        for cycle in cycles:
            self.error(dx.DEPENDENCY_CYCLE, "dependency cycle: " + " → ".join(cycle.nodes),
                       cycle.spec_path, hint="remove one of these needs")
        if cycles:
            return None

        pos = {n: i for i, n in enumerate(order)}
        direct: dict[str, set[str]] = {n: set() for n in nodes}
        for e in edges:
            direct[e.after].add(e.before)
        needs = {n: sorted(direct[n], key=pos.__getitem__) for n in nodes}
        return tuple(self._make_node(nodes[n], needs[n], nodes) for n in order)

    def _eval_nodes(self, g: _Graph, env_secrets: tuple[str, ...]) -> list[str]:
        """One node per LLM eval: `mlspec eval SPEC --name NAME` runs the eval's command and scores it.
        Its inputs are the prompt, rubric and schema files it uses, so editing one prompt re-runs
        only the evals that exercise it."""
        llm = self.spec.llm
        if not llm:
            return []
        ids = []
        for i, ev in enumerate(llm.evals):
            base = ("llm", "evals", i)
            node_id = f"eval.{ev.name}"
            if node_id in ids:
                continue  # a duplicate name is MS313
            data: list[str] = []
            params: list[str] = []
            if ev.run:
                _, params, data = self.expand(ev.run, (*base, "run"))
            dataset = strip_namespace(ev.dataset)
            if ev.dataset not in self.ref_targets():
                self.unknown_ref(ev.dataset, (*base, "dataset"), f"llm.evals[{i}].dataset",
                                 [r for r in self.ref_targets() if r.startswith("data.")])
            used = self._add_needs(g, node_id, ev.needs, (*base, "needs"), f"llm.evals[{i}].needs")
            inputs = [llm.prompts[n].file for n in self._eval_prompts(ev) if n in llm.prompts]
            inputs += [f for f in (ev.rubric, ev.schema_) if f]
            secrets = set(env_secrets)
            out_dir = f".mlspec/evals/{ev.name}"
            g.node(node_id, "eval", f"eval {ev.name}",
                   command=f"mlspec eval --name={shell_value(ev.name)} -- {self._spec_arg()}", runtime=True,
                   params=params, data=sorted({dataset, *data, *used}), inputs=inputs,
                   outputs=[ev.outputs, f"{out_dir}/summary.json", f"{out_dir}/results.jsonl"],
                   timeout=ev.timeout, secrets=tuple(sorted(secrets)), spec_path=base,
                   description=ev.description or f"{ev.scorer} on data.{dataset}")
            ids.append(node_id)
        return ids

    def _eval_prompts(self, ev: m.LlmEval) -> list[str]:
        assert self.spec.llm is not None
        return sorted(ev.prompts) if ev.prompts is not None else sorted(self.spec.llm.prompts)

    def _file_sha256(self, rel: str | None) -> str | None:
        """A file beside the spec, hashed at compile time (a missing one is MS307's warning)."""
        if rel is None or self.doc.path is None:
            return None
        try:
            return hashlib.sha256((self.doc.path.parent / rel).read_bytes()).hexdigest()
        except OSError:
            return None

    def _check_data_on_runners(self, used: set[str], produced: set[str]) -> None:
        """A relative source no node writes and nothing fetches must be in git, or runners lack it."""
        if self.doc.path is None:
            return
        base = self.doc.base_dir
        for name in sorted(used):
            sample = self.spec.data[name].sample
            if sample is None:
                continue
            # The pull request's job runs on the sample: a fresh clone must have it.
            problem = ("does not exist" if not (base / sample).exists() else
                       "is ignored by git, so a pull request's clone will not have it"
                       if _git_ignored(base, sample) else None)
            if problem:
                self.diags.append(Diagnostic(
                    dx.DATA_NOT_ON_RUNNER, f"the sample of data.{name} ({sample!r}) {problem}",
                    severity=dx.Severity.WARNING, span=self.doc.span(("data", name, "sample")),
                    path=("data", name, "sample"), hint="commit a small extract of the source at this path"))
        for name in sorted(used):
            src = self.spec.data[name]
            if src.fetch is not None or uri_scheme(src.uri) is not None \
                    or posixpath.normpath(src.uri) in produced:
                continue
            path = base / src.uri
            if not path.exists():
                problem = "does not exist"
            elif _git_ignored(base, src.uri):
                problem = "is ignored by git, so a fresh clone (a CI runner, a worker) will not have it"
            else:
                continue
            self.diags.append(Diagnostic(
                dx.DATA_NOT_ON_RUNNER, f"data.{name} ({src.uri!r}) {problem}; no node writes it and nothing "
                "fetches it", severity=dx.Severity.WARNING, span=self.doc.span(("data", name, "uri")),
                path=("data", name, "uri"),
                hint="add `fetch:` with the command that brings it (e.g. 'dvc pull'), write it in a step, "
                     "or commit it"))

    def _declared_params(self, used: list[str], declared: list[str], path: SpecPath) -> list[str]:
        """Interpolated keys plus the keys a node says it reads from ``params_file``."""
        known = flatten(self.params)
        for i, key in enumerate(declared):
            if key not in known:
                self.error(dx.UNKNOWN_PARAM, f"unknown parameter {key!r} in {dx.format_path(path)}", (*path, i),
                           hint=did_you_mean(key, known) or (f"known: {', '.join(sorted(known)[:12])}" if known
                                                             else "define it in `params` or `params_file`"))
        self.params_used.update(declared)
        return sorted(set(used) | set(declared))

    def _check_unused_params(self) -> None:
        """A parameter nothing reads is a warning where it is written (the spec or the params file)."""
        for key, value in sorted(leaves(self.params).items()):
            parts = key.split(".")
            covered = any(u == key or key.startswith(u + ".") or u.startswith(key + ".") for u in self.params_used)
            if covered:
                continue
            if parts[0] in self.spec.params:
                span, path, file = self.doc.span(("params", *parts), key=True), ("params", *parts), None
            else:
                span, path, file = self.params_spans.get(tuple(parts)), (), self.params_file_name
            self.diags.append(Diagnostic(dx.UNUSED_PARAM, f"parameter {key!r} is not used by any node",
                                         severity=dx.Severity.WARNING, file=file, span=span, path=path,
                                         hint="interpolate it as ${params." + key + "} or list it under a "
                                              "node's `params:`; otherwise remove it"))

    def _spec_arg(self) -> str:
        name = self.doc.path.name if self.doc.path else "mlproject.yaml"
        return shell_value(name)

    def _make_node(self, e: dict[str, Any], needs: list[str], nodes: dict[str, dict[str, Any]]) -> p.Node:
        node_id = e["id"]
        # Direct inputs only: declared files and what the nodes it needs write (see plan.Node).
        inputs = list(e.get("inputs", ()))
        for d in needs:
            inputs.extend(nodes[d].get("outputs", ()))
        env = dict(self.spec.environment.env)
        env.update(e.get("env", {}))
        return p.Node(
            id=node_id, slug=node_id.replace(".", "_"), kind=e["kind"], title=e["title"],
            command=e.get("command"), needs=tuple(needs), env=tuple(sorted(env.items())),
            secrets=tuple(e.get("secrets", ())), resources=_resources(e.get("resources")),
            timeout_seconds=duration_seconds(e["timeout"]) if e.get("timeout") else None,
            retries=e.get("retries", 0), inputs=tuple(dict.fromkeys(inputs)),
            outputs=tuple(e.get("outputs", ())), data=tuple(e.get("data", ())),
            params=tuple(e.get("params", ())), description=e.get("description"),
            spec_path=e.get("spec_path", ()), runtime=e.get("runtime", False),
            uses_image=e.get("uses_image", True), fetch_production=e.get("fetch_production", False),
            sample_command=e.get("sample_command"),
        )

    def _check_secret_subset(self, env_secrets: tuple[str, ...]) -> None:
        places: list[tuple[SpecPath, list[str] | None]] = [
            (("steps", n, "secrets"), s.secrets) for n, s in sorted(self.spec.steps.items())]
        for section in ("training", "validation", "serving"):
            obj = getattr(self.spec, section)
            if obj is not None:
                places.append(((section, "secrets"), obj.secrets))
        for base, names in places:
            for i, name in enumerate(names or ()):
                if name not in env_secrets:
                    self.unknown_ref(name, (*base, i), dx.format_path(base), env_secrets)

    def _check_other_refs(self, refs: dict[str, str]) -> None:
        data_refs = [r for r in refs if r.startswith("data.")]
        mon = self.spec.monitoring
        if mon:
            for key in ("reference", "current"):
                ref = getattr(mon, key)
                if ref and ref not in refs:
                    self.unknown_ref(ref, ("monitoring", key), f"monitoring.{key}", data_refs)
            if mon.performance and mon.performance.labels and mon.performance.labels not in refs:
                self.unknown_ref(mon.performance.labels, ("monitoring", "performance", "labels"),
                                 "monitoring.performance.labels", data_refs)
            if mon.performance and mon.performance.run:
                self.expand(mon.performance.run, ("monitoring", "performance", "run"))
            for i, check in enumerate(mon.checks):
                self.expand(check.run, ("monitoring", "checks", i, "run"))
        if self.spec.llm:
            for i, ev in enumerate(self.spec.llm.evals):
                for j, name in enumerate(ev.prompts or ()):
                    if name not in self.spec.llm.prompts:
                        self.unknown_ref(name, ("llm", "evals", i, "prompts", j), f"llm.evals[{i}].prompts",
                                         self.spec.llm.prompts)
        if self.spec.serving:
            self.expand(self.spec.serving.run, ("serving", "run"))

    # ------------------------------------------------------------------ monitoring graph

    def _monitor_nodes(self, env_secrets: tuple[str, ...]) -> tuple[p.Node, ...]:
        mon = self.spec.monitoring
        if not mon:
            return ()
        spec_arg = self._spec_arg()
        out: list[p.Node] = []

        def add(node_id: str, kind: str, title: str, command: str, path: SpecPath, **kw: Any) -> None:
            out.append(p.Node(id=node_id, slug=node_id.replace(".", "_"), kind=kind, title=title,
                              command=command, env=tuple(sorted(self.spec.environment.env.items())),
                              secrets=env_secrets, spec_path=path, runtime=True, **kw))

        current = strip_namespace(mon.current) if mon.current else None
        contract = contract_source(self.spec)
        if mon.schema_checks and current and contract:
            # Options before `--`, the spec and names after it: a spec named `-x.yaml` (or a
            # data path starting with `-`) is never read as an option.
            command = "mlspec check-data"
            if contract != current:
                command += f" --file={shell_value(self.spec.data[current].uri)}"
            command += f" -- {spec_arg} {contract}"
            add("monitor.schema", "monitor_schema", f"schema check {current}", command,
                ("monitoring", "schema_checks"), data=tuple(sorted({current, contract})))
        fresh = tuple(sorted(n for n, s in self.spec.data.items() if s.freshness))
        if fresh:
            add("monitor.freshness", "monitor_freshness", "data freshness",
                f"mlspec freshness -- {spec_arg}", ("data",), data=fresh)
        if mon.drift and mon.reference and mon.current:
            add("monitor.drift", "monitor_drift", "data drift", f"mlspec drift -- {spec_arg}",
                ("monitoring", "drift"), data=(strip_namespace(mon.reference), strip_namespace(mon.current)))
        if mon.performance:
            perf = mon.performance
            cmd = f"mlspec performance -- {spec_arg}"
            if perf.run:
                expanded, _, _ = self.expand(perf.run, ("monitoring", "performance", "run"))
                cmd = f"{expanded} && {cmd}"
                if uses_production(perf.run) and self.spec.registry:
                    # A composite runtime command already: it fetches the deployed model itself,
                    # so every target judges production without a step of its own.
                    cmd = f"mlspec registry fetch --alias production -- {spec_arg} && {cmd}"
            data = tuple(sorted({strip_namespace(x) for x in (perf.labels, mon.current) if x}))
            add("monitor.performance", "monitor_performance", f"performance {perf.metric}", cmd,
                ("monitoring", "performance"), data=data, outputs=(perf.metrics,))
        for i, check in enumerate(mon.checks):
            path = ("monitoring", "checks", i)
            expanded, _, used = self.expand(check.run, (*path, "run"))
            cmd = f"{expanded} && mlspec custom-check -- {spec_arg} {check.name}"
            if uses_production(check.run) and self.spec.registry:
                cmd = f"mlspec registry fetch --alias production -- {spec_arg} && {cmd}"
            add(f"monitor.check.{check.name}", "monitor_check", f"check {check.name}", cmd, path,
                data=tuple(used), outputs=(check.metrics_file,))
        retrain = self.spec.retraining
        if retrain and retrain.on and out:
            event_nodes: dict[str, set[str]] = {"data_drift": {"monitor.drift"}, "concept_drift": {"monitor.performance"},
                                                "pipeline_drift": {"monitor.schema"}, "freshness": {"monitor.freshness"},
                                                "custom_check": set()}
            for check in mon.checks:
                event_nodes[check.event].add(f"monitor.check.{check.name}")
            present = {n.id for n in out}
            needs = tuple(sorted(set().union(*(event_nodes[e] for e in retrain.on)) & present))
            if needs:
                add("retrain", "retrain", "trigger retraining", f"mlspec retrain-trigger -- {spec_arg}",
                    ("retraining", "on"), needs=needs)
        return tuple(out)

    # ------------------------------------------------------------------ plan

    def _plan(self, pipeline: tuple[p.Node, ...], monitor: tuple[p.Node, ...]) -> p.Plan:
        s = self.spec
        env = s.environment
        base_image = env.base_image or f"python:{env.python}-slim"
        project = p.Project(s.project.name, s.project.description, tuple(s.project.owners),
                            tuple(sorted(s.project.labels.items())), s.project.repository)
        environment = p.Environment(
            python=env.python, requirements=env.requirements, base_image=base_image,
            base_image_pinned="@sha256:" in base_image, system_packages=tuple(sorted(env.system_packages)),
            env=tuple(sorted(env.env.items())), secrets=tuple(sorted(env.secrets)), test=env.test,
            **self._requirement_hashes(env.requirements))
        data = tuple(self._data_source(n, src) for n, src in sorted(s.data.items()))
        gates, approval = (), None
        if s.validation:
            gates = tuple(_gates(s.validation.gates))
            a = s.validation.approval
            if a.required:
                approval = p.Approval(True, a.environment or "production", tuple(a.reviewers))
        registry = None
        if s.registry:
            r = s.registry
            storage = getattr(s, "storage", None)
            # With `storage:` and no registry.uri, versions live in the store.
            default = f"{storage.uri.rstrip('/')}/registry" if storage is not None else ".mlspec/registry"
            uri = r.uri or (default if r.backend == "local" else "")
            registry = p.Registry(r.backend, uri, r.model_name or s.project.name,
                                  in_store=r.uri is None and r.backend == "local" and storage is not None)
        digest = hashlib.sha256(self.doc.text.encode("utf-8")).hexdigest()
        t = s.training
        return p.Plan(
            spec_file=self.doc.path.name if self.doc.path else "mlproject.yaml",
            spec_dir=self.spec_dir, spec_sha256=digest, source=self._source(),
            project=project, environment=environment,
            params=tuple(sorted(leaves(self.params).items())), data=data, nodes=pipeline, monitor_nodes=monitor,
            gates=gates, approval=approval, registry=registry, storage=self._storage(), serving=self._serving(),
            monitoring=self._monitoring(), retraining=self._retraining(), governance=p.Governance(
                s.governance.risk_level, s.governance.model_card, tuple(s.governance.approvers),
                s.governance.require_pinned_data, s.governance.audit_retention_days,
                intended_use=s.governance.intended_use, limitations=s.governance.limitations,
                ethical_considerations=s.governance.ethical_considerations,
                out_of_scope_uses=tuple(s.governance.out_of_scope_uses)),
            llm=self._llm(), model_path=t.outputs.model if t else None,
            train_metrics_path=t.outputs.metrics if t else None,
            eval_metrics_path=s.validation.metrics if s.validation else None,
            eval_outputs=tuple(s.validation.outputs) if s.validation else (),
            tracking_backend=t.tracking.backend if t else "none",
            tracking_experiment=(t.tracking.experiment or s.project.name) if t and t.tracking.backend != "none" else None,
            seed=t.seed if t else None,
            images=self._images(pipeline), mlspec_install=self._mlspec_install(),
            production_model=p.production_model_path(self._model_path()) if registry else None,
            fetch_production_command=(f"mlspec registry fetch --alias production -- {self._spec_arg()}"
                                      if registry else None),
        )

    def _requirement_hashes(self, requirements: str | None) -> dict[str, Any]:
        """The sha256 of the requirements file and of a lock file beside it (what pins the
        environment beyond the spec), when they exist on this machine."""
        if not requirements or self.doc.path is None:
            return {}
        base = self.doc.base_dir
        req = base / requirements
        out: dict[str, Any] = {}
        if req.is_file():
            out["requirements_sha256"] = _sha256_file(req)
        folder = posixpath.dirname(requirements)
        for name in _LOCK_FILES:
            lock = req.parent / name
            if lock.is_file():
                out["requirements_lock"] = (posixpath.join(folder, name), _sha256_file(lock))
                break
        return out

    def _storage(self) -> p.Storage:
        st = self.spec.storage
        if st is None:
            return p.Storage(".mlspec/store", None, (), True)
        return p.Storage(st.uri, st.endpoint, tuple(st.secrets), uri_scheme(st.uri) is None)

    # ------------------------------------------------------------------ images

    def _serve_image_emitted(self) -> bool:
        o = self.image_options
        return o.enabled and o.serve_image and self.spec.serving is not None

    def _images(self, pipeline: tuple[p.Node, ...]) -> p.Images:
        o, name = self.image_options, self.spec.project.name

        def image(kind: Literal["train", "serve"], emitted: bool) -> p.Image:
            suffix = "" if kind == "serve" else f"-{kind}"
            repo = f"{o.registry}/{name}{suffix}" if o.registry else f"{name}{suffix}"
            return p.Image(kind, p.dockerfile_path(name, kind), repo, o.registry is not None, "latest", emitted)

        train = o.enabled and o.train_image and any(n.command and n.uses_image for n in pipeline)
        return p.Images(image("train", train), image("serve", self._serve_image_emitted()), o.uid, self.spec_dir)

    def _mlspec_install(self) -> str:
        """The pip requirement for mlspec where pipelines run: the user's, else exactly the
        release that generated the files (the distribution is ``mlspec-compiler``; ``mlspec``
        on PyPI is another project), with the extras this project needs. Pinning to
        ``__version__`` makes ``compile --check`` notice an upgrade of the compiler."""
        if self.image_options.mlspec_install:
            return self.image_options.mlspec_install
        extras = ["runtime"]
        if self.spec.registry is not None and self.spec.registry.backend == "mlflow":
            extras.insert(0, "mlflow")
        return f"{DISTRIBUTION}[{','.join(extras)}]=={__version__}"

    def _source(self) -> str:
        """The spec as named in generated headers: relative to the output folder, so the bytes
        do not depend on the working directory or on how the path was typed."""
        name = self.doc.path.name if self.doc.path else "mlproject.yaml"
        return sanitize_source(name if self.spec_dir == "." else f"{self.spec_dir}/{name}")

    def _data_source(self, name: str, src: m.DataSource) -> p.DataSource:
        fmt = src.format
        if fmt is None:
            ext = posixpath.splitext(src.uri.rstrip("/"))[1].lower()
            fmt = FORMAT_OF_EXTENSION.get(ext)
        columns = None
        if src.schema_ is not None:
            columns = tuple(p.Column(c, col.type, col.nullable, col.min, col.max,
                                     tuple(col.values) if col.values is not None else None, col.unique)
                            for c, col in sorted(src.schema_.items()))
        return p.DataSource(name, src.uri, uri_scheme(src.uri), fmt, src.version, src.role,
                            duration_seconds(src.freshness) if src.freshness else None, src.freshness,
                            columns, src.description, src.sample)

    def _serving(self) -> p.Serving | None:
        """Resolved once (its interpolations count as parameter uses before the unused check)."""
        if not hasattr(self, "_serving_plan"):
            self._serving_plan = self._resolve_serving()
        return self._serving_plan

    def _resolve_serving(self) -> p.Serving | None:
        sv = self.spec.serving
        if not sv:
            return None
        cmd, _, _ = self.expand(sv.run, ("serving", "run"))
        auto = sv.autoscaling
        slo = p.Slo(sv.slo.latency_p95_ms, sv.slo.error_rate, sv.slo.availability) if sv.slo else None
        env = dict(self.spec.environment.env)
        env.update(sv.env)
        return p.Serving(
            mode=sv.mode, command=cmd, port=sv.port, health_path=sv.health_path,
            metrics_path=sv.metrics_path, replicas=sv.replicas, resources=_resources(sv.resources),
            min_replicas=auto.min_replicas if auto else None, max_replicas=auto.max_replicas if auto else None,
            target_cpu_percent=auto.target_cpu_percent if auto else None,
            rollout_strategy=sv.rollout.strategy, canary_steps=tuple(sv.rollout.canary_steps), slo=slo,
            latency_histogram=sv.metrics.latency_histogram, requests_total=sv.metrics.requests_total,
            selector=tuple(sorted((sv.metrics.labels or {"project": self.spec.project.name}).items())),
            schedule=cron_expression(sv.schedule) if sv.schedule else None,
            timeout_seconds=duration_seconds(sv.timeout) if sv.timeout else None,
            env=tuple(sorted(env.items())),
            secrets=self._serving_secrets(sv.secrets, uses_production(sv.run)),
            fetch_production=uses_production(sv.run),
            batch=self._serving_batch(sv, env))

    def _serving_secrets(self, selected: list[str] | None, fetches: bool) -> tuple[str, ...]:
        """A server that fetches the production model at start reads the store: it gets the
        store's credentials besides the secrets it names."""
        chosen = _secrets(selected, tuple(sorted(self.spec.environment.secrets)))
        if fetches and self.spec.storage is not None:
            chosen = tuple(sorted({*chosen, *self.spec.storage.secrets}))
        return chosen

    def _serving_batch(self, sv: m.Serving, env: dict[str, str]) -> p.Serving | None:
        """serving.batch as a batch Serving: the server's resources, env and secrets unless it sets its own."""
        b = sv.batch
        if b is None or sv.mode != "online":
            return None
        cmd, _, _ = self.expand(b.run, ("serving", "batch", "run"))
        resources = _resources(b.resources if b.resources is not None else sv.resources)
        return p.Serving(
            mode="batch", command=cmd, port=None, health_path=None, metrics_path=sv.metrics_path, replicas=1,
            resources=resources, min_replicas=None, max_replicas=None, target_cpu_percent=None,
            rollout_strategy=sv.rollout.strategy, canary_steps=(), slo=None,
            latency_histogram=sv.metrics.latency_histogram, requests_total=sv.metrics.requests_total,
            selector=(), schedule=cron_expression(b.schedule),
            timeout_seconds=duration_seconds(b.timeout) if b.timeout else None,
            env=tuple(sorted({**env, **b.env}.items())),
            secrets=self._serving_secrets(sv.secrets, uses_production(b.run)),
            fetch_production=uses_production(b.run))

    def _monitoring(self) -> p.Monitoring | None:
        mon = self.spec.monitoring
        if not mon:
            return None
        drift = tuple(p.DriftCheck(col, d.method, d.threshold, d.method in ("ks", "chi2"), d.severity,
                                   ("monitoring", "drift", i, "columns", j))
                      for i, d in enumerate(mon.drift) for j, col in enumerate(d.columns))
        perf = None
        if mon.performance:
            pf = mon.performance
            perf = p.Performance(pf.metric, pf.min, pf.max, strip_namespace(pf.labels) if pf.labels else None,
                                 pf.window, duration_seconds(pf.window), pf.severity, metrics_path=pf.metrics)
        checks = tuple(
            p.CustomCheck(c.name, c.description, c.metrics_file,
                          tuple(p.CheckBound(b.metric, b.min, b.max, b.description,
                                             ("monitoring", "checks", i, "bounds", j))
                                for j, b in enumerate(c.bounds)),
                          c.event, c.severity, ("monitoring", "checks", i))
            for i, c in enumerate(mon.checks))
        return p.Monitoring(
            checks=checks,
            schedule=cron_expression(mon.schedule), schedule_text=mon.schedule,
            period_seconds=cron_period_seconds(cron_expression(mon.schedule)),
            reference=strip_namespace(mon.reference) if mon.reference else None,
            current=strip_namespace(mon.current) if mon.current else None, drift=drift, performance=perf,
            schema_checks=mon.schema_checks,
            freshness=tuple(sorted(n for n, s in self.spec.data.items() if s.freshness)),
            pushgateway=mon.pushgateway, textfile_dir=mon.textfile_dir,
            alerts=tuple(p.Alert(a.channel, a.to, tuple(a.on), a.severity) for a in mon.alerts))

    def _retraining(self) -> p.Retraining | None:
        r = self.spec.retraining
        if not r:
            return None
        scheduler = None
        if r.schedule:
            airflow = self.spec.targets.get("airflow") or {}
            scheduler = r.scheduler or ("airflow" if airflow.get("enabled", True) is not False else "github_actions")
        return p.Retraining(cron_expression(r.schedule) if r.schedule else None, r.schedule,
                            tuple(r.on), r.cooldown, duration_seconds(r.cooldown),
                            cron_period_seconds(cron_expression(r.schedule)) if r.schedule else None,
                            scheduler=scheduler)

    def _llm(self) -> p.Llm | None:
        llm = self.spec.llm
        if not llm:
            return None
        evals = []
        for i, e in enumerate(llm.evals):
            command = self.expand(e.run, ("llm", "evals", i, "run"))[0] if e.run else None
            evals.append(p.LlmEval(
                e.name, strip_namespace(e.dataset), e.scorer, e.rubric, e.min, e.max, command=command,
                outputs=e.outputs, prompts=tuple(self._eval_prompts(e)), pattern=e.pattern, schema=e.schema_,
                ignore_case=e.ignore_case, rubric_sha256=self._file_sha256(e.rubric),
                timeout_seconds=duration_seconds(e.timeout) if e.timeout else None, spec_path=("llm", "evals", i)))
        j = llm.judge
        judge = p.Judge(j.provider, j.model, j.base_url, j.api_key_secret, j.entrypoint,
                        duration_seconds(j.timeout), j.max_concurrency, j.retries) if j else None
        return p.Llm(
            provider=llm.model.provider, model=llm.model.name, version=llm.model.version,
            prompts=tuple(p.Prompt(n, pr.file, pr.description, self._file_sha256(pr.file))
                          for n, pr in sorted(llm.prompts.items())),
            evals=tuple(evals),
            cost_per_1k_requests_usd=llm.budgets.cost_per_1k_requests_usd,
            latency_p95_ms=llm.budgets.latency_p95_ms,
            max_tokens_per_request=llm.budgets.max_tokens_per_request, judge=judge)


# --------------------------------------------------------------------------- small helpers


def _git_ignored(base: Any, rel: str) -> bool:
    """Whether git ignores ``rel`` in the work tree around ``base`` (False outside git or without git)."""
    import subprocess

    try:
        proc = subprocess.run(["git", "-C", str(base), "check-ignore", "-q", "--", rel],
                              capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def _param_text(value: Any) -> Any:
    """A parameter as it lands in a command: a scalar as itself, a list or mapping as compact JSON
    (one shell word a script can parse)."""
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def _secrets(selected: list[str] | None, env_secrets: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(selected)) if selected is not None else env_secrets


def _resources(r: m.Resources | None) -> p.ResourceRequest:
    if r is None:
        return p.ResourceRequest()
    return p.ResourceRequest(
        cpu=cpu_cores(r.cpu) if r.cpu is not None else None,
        cpu_text=str(r.cpu) if r.cpu is not None else None,
        memory=r.memory, memory_bytes=memory_bytes(r.memory) if r.memory else None, gpu=r.gpu)


def _gates(gates: list[m.Gate]) -> list[p.Gate]:
    out, seen = [], set()
    for i, g in enumerate(gates):
        suffix = "baseline" if g.baseline else "_".join(k for k in ("min", "max") if getattr(g, k) is not None)
        gid = f"{g.metric}_{suffix}".replace(".", "_").replace("-", "_")
        base, n = gid, 2
        while gid in seen:
            gid, n = f"{base}_{n}", n + 1
        seen.add(gid)
        out.append(p.Gate(g.metric, g.min, g.max, g.baseline, g.max_regression, g.higher_is_better,
                          g.description, gid, ("validation", "gates", i)))
    return out


def _known_hint(ref: str, choices: Iterable[str]) -> str | None:
    choices = sorted(choices)
    return f"known: {', '.join(choices[:12])}" if choices else "nothing of that kind is defined"


def resolve_plan(spec: m.Spec, doc: Document, *, image_options: ImageOptions | None = None,
                 spec_dir: str = ".", params: LoadedParams | None = None) -> tuple[p.Plan | None, list[Diagnostic]]:
    """Spec → Plan. ``image_options`` are the validated ``targets.docker`` settings (the project's
    images; defaults when absent); ``params`` the merged parameters (``load_params``)."""
    resolver = Resolver(spec, doc, image_options=image_options or ImageOptions(), spec_dir=spec_dir,
                        params=params.values if params else None, params_spans=params.spans if params else None,
                        params_file_name=params.file if params else None)
    plan = resolver.resolve()
    return plan, dx.sort_diagnostics(resolver.diags)
