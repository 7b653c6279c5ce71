"""One diagnostic type and the registry of stable codes.

Every stage returns ``(result, diagnostics)``; nothing raises for bad input. Codes are
``MS`` + three digits, the first digit naming the phase that reports them:
0 load, 1 schema, 2 references and graph, 3 semantic rules, 4 target capability,
5 output (writer, ``--check``), 6 runtime commands, 9 internal. A code is never reused;
``docs/diagnostics.md`` is generated from :data:`CODES` and drift-tested.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace

from mlspec._version import REPOSITORY_URL

PathItem = str | int
SpecPath = tuple[PathItem, ...]


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.value


@dataclass(frozen=True, order=True)
class Span:
    """A 1-based position range in a source file (end is exclusive, may equal start)."""

    line: int
    column: int
    end_line: int | None = None
    end_column: int | None = None


@dataclass(frozen=True)
class CodeInfo:
    """One diagnostic code: its title, severity, explanation and example (docs/diagnostics.md)."""

    code: str
    title: str
    severity: Severity
    explanation: str
    example: str = ""


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a spec, with where it is and what to do."""

    code: str
    message: str
    severity: Severity = Severity.ERROR
    file: str | None = None
    span: Span | None = None
    path: SpecPath = ()
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    @property
    def dotted_path(self) -> str:
        return format_path(self.path)

    def sort_key(self) -> tuple:
        span = self.span or Span(0, 0)
        return (self.file or "", span.line, span.column, self.code, self.message)

    def with_file(self, file: str) -> Diagnostic:
        return self if self.file else replace(self, file=file)

    def promoted(self) -> Diagnostic:
        """The same finding as an error (``--strict``)."""
        return replace(self, severity=Severity.ERROR)

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "file": self.file,
            "line": self.span.line if self.span else None,
            "column": self.span.column if self.span else None,
            "path": self.dotted_path,
            "hint": self.hint,
        }


def help_uri(code: str) -> str:
    """Where a code is documented: its anchor in ``docs/diagnostics.md`` in the repository."""
    return f"{REPOSITORY_URL}/blob/main/docs/diagnostics.md#{code.lower()}"


def format_path(path: Iterable[PathItem]) -> str:
    """``('validation', 'needs', 1)`` -> ``validation.needs[1]``."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        elif out:
            out += f".{item}" if _is_plain(item) else f"[{item!r}]"
        else:
            out = item if _is_plain(item) else f"[{item!r}]"
    return out


def _is_plain(key: str) -> bool:
    return bool(key) and all(c.isalnum() or c in "_-" for c in key) and key.isascii()


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple] = set()
    unique = []
    for d in diags:
        key = (d.code, d.file, d.span, d.path, d.message)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return sorted(unique, key=Diagnostic.sort_key)


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diags)


# ---------------------------------------------------------------------------- registry

CODES: dict[str, CodeInfo] = {}


def _code(code: str, title: str, severity: Severity, explanation: str, example: str = "") -> str:
    assert code not in CODES, code
    CODES[code] = CodeInfo(code, title, severity, explanation, example)
    return code


E, W = Severity.ERROR, Severity.WARNING

# 0 — loading bytes into a Document
FILE_UNREADABLE = _code("MS001", "file cannot be read", E,
    "The spec file does not exist, is a directory, or cannot be opened.")
FILE_TOO_LARGE = _code("MS002", "file too large", E,
    "Specs are capped at 1 MiB so that a hostile file cannot exhaust memory or time.")
NOT_UTF8 = _code("MS003", "not UTF-8", E,
    "The file must be UTF-8 (a byte-order mark is accepted). UTF-16 and other encodings "
    "are refused with the position of the first undecodable byte.")
FORBIDDEN_CHARACTER = _code("MS004", "forbidden character", E,
    "Tabs, control characters (C0 except newline and carriage return, DEL, C1), "
    "bidirectional-override characters, U+2028/U+2029 line separators, lone surrogates and "
    "non-characters are refused anywhere in the file — also when written as escapes inside "
    "double quotes: they hide indentation mistakes or make text display differently from "
    "what the compiler reads.",
    "name:\tchurn")
YAML_SYNTAX = _code("MS005", "YAML syntax error", E,
    "The file is not well-formed YAML.")
MULTIPLE_DOCUMENTS = _code("MS006", "more than one YAML document", E,
    "A spec is exactly one YAML document; a second `---` document is refused.")
EMPTY_DOCUMENT = _code("MS007", "empty document", E,
    "The file holds no YAML content (it is empty or only comments).")
NOT_A_MAPPING = _code("MS008", "top level is not a mapping", E,
    "The top level of a spec must be a mapping of keys such as `mlspec:` and `project:`.")
ANCHOR_OR_ALIAS = _code("MS009", "anchors, aliases and merge keys are not allowed", E,
    "Anchors (`&a`), aliases (`*a`) and merge keys (`<<`) are refused: they allow "
    "exponential expansion (billion laughs) and hide where a value comes from.")
DUPLICATE_KEY = _code("MS010", "duplicate key", E,
    "A key appears twice in one mapping. YAML parsers silently keep the last value; "
    "mlspec reports both positions.")
NON_STRING_KEY = _code("MS011", "key is not a plain string", E,
    "Mapping keys must be strings. Keys such as `1`, `null`, `true` or complex keys are "
    "refused; quote the key if you mean the text.")
TAG_NOT_ALLOWED = _code("MS012", "YAML tag not allowed", E,
    "Only the core tags `!!str`, `!!int`, `!!float`, `!!bool`, `!!null`, `!!map` and "
    "`!!seq` may be written; custom and language tags (`!!python/...`, `!Ref`) are refused.")
TOO_DEEP = _code("MS013", "nesting too deep", E,
    "Mappings and sequences may nest at most 64 levels deep.")
TOO_BIG = _code("MS014", "document too big", E,
    "A spec may hold at most 200,000 YAML nodes and no scalar longer than 64 KiB.")

# 1 — the Document against the language (pydantic models)
UNKNOWN_KEY = _code("MS101", "unknown key", E,
    "The key is not part of the language at this place. Keys starting with `x-` are "
    "extensions and are ignored.", "projcet:\n  name: churn")
MISSING_KEY = _code("MS102", "required key missing", E,
    "A required key is absent.")
WRONG_TYPE = _code("MS103", "wrong type", E,
    "The value has the wrong type. mlspec never coerces: the string `\"many\"` is not an "
    "integer, `3.10` is a number and not the string `\"3.10\"`, `yes`/`no` are strings.")
INVALID_NAME = _code("MS104", "invalid name", E,
    "Names of data sources, steps, params and the project become file names, job ids and "
    "metric labels, so they follow a strict pattern.")
INVALID_CHOICE = _code("MS105", "value not among the allowed choices", E,
    "The value must be one of a fixed set of words.")
OUT_OF_RANGE = _code("MS106", "value out of range", E,
    "A number or a list length is outside its allowed range, or a number is not finite.")
UNSUPPORTED_VERSION = _code("MS107", "unsupported language version", E,
    "`mlspec:` must be the integer `1`.")
INVALID_DURATION = _code("MS108", "invalid duration", E,
    "Durations are a positive whole number and a unit: `90s`, `30m`, `2h`, `7d`.")
INVALID_SCHEDULE = _code("MS109", "invalid schedule", E,
    "Schedules are 5-field cron strings (`0 3 * * 1`) or one of `@hourly`, `@daily`, "
    "`@weekly`, `@monthly`.")
INVALID_QUANTITY = _code("MS110", "invalid resource quantity", E,
    "Memory is a Kubernetes quantity such as `512Mi` or `8Gi`; CPU a positive number.")
INVALID_URI = _code("MS111", "invalid URI", E,
    "A data `uri` is a URI with a scheme (`s3://…`, `postgresql://…`) or a relative path.")
INVALID_STRING = _code("MS112", "invalid text", E,
    "The text is empty, too long, or breaks a pattern required where it is used "
    "(identifiers, image references, URLs, e-mail addresses, secret names).")

# 2 — references, interpolation and the graph
UNKNOWN_REFERENCE = _code("MS201", "unknown reference", E,
    "A reference such as `data.holdout` or `steps.prepare` names nothing in the spec.",
    "validation:\n  needs: [data.holdot]")
DEPENDENCY_CYCLE = _code("MS202", "dependency cycle", E,
    "`needs` form a cycle; the whole cycle is reported at the reference that closes it.")
UNKNOWN_INTERPOLATION = _code("MS203", "unknown interpolation", E,
    "A `${…}` in a `run` string names a value mlspec does not know. Only `${params.NAME}`, "
    "`${data.NAME.uri}`, `${data.NAME.version}`, `${project.name}`, "
    "`${training.outputs.model}`, `${training.outputs.metrics}`, `${validation.metrics}` and "
    "`${registry.production.model}` are interpolated; any other `${NAME}` is left to the shell.")
WRONG_REFERENCE_KIND = _code("MS204", "reference of the wrong kind", E,
    "The reference resolves, but to the wrong kind of thing (for example a step where a "
    "data source is required).")
BAD_INTERPOLATION = _code("MS205", "malformed interpolation", E,
    "A `${` in a `run` string is not closed, or is empty. Write `$${` for a literal `${`.")
SELF_REFERENCE = _code("MS206", "a node needs itself", E,
    "A step lists itself in `needs`.")

# 3 — semantic rules beyond types
GATE_WITHOUT_BOUND = _code("MS301", "gate without a bound", E,
    "A gate needs `min`, `max` or `baseline`.")
GATE_MIN_ABOVE_MAX = _code("MS302", "gate minimum above maximum", E,
    "A gate's `min` is greater than its `max`, so no value can pass.")
DRIFT_COLUMN_UNKNOWN = _code("MS303", "drift column not in the reference schema", E,
    "A `monitoring.drift[].columns` entry is not a column of the reference source's "
    "`schema`.")
UNPINNED_DATA = _code("MS304", "unpinned data source", E,
    "With `governance.require_pinned_data`, every source that training or validation "
    "needs (directly or through steps) must have a `version`.")
CREDENTIAL_VALUE = _code("MS305", "value looks like a credential", E,
    "A value looks like a secret (cloud key, token, private key, password in a URI). The "
    "value is never printed. Move it to the platform's secret store and list its name in "
    "`environment.secrets`.")
PATH_ESCAPES = _code("MS306", "path is absolute or escapes the project", E,
    "Paths are relative to the spec's folder and may not leave it.")
INPUT_FILE_MISSING = _code("MS307", "referenced file does not exist yet", W,
    "A file the spec points at (requirements, prompt, rubric) is not there yet.")
SERVING_WITHOUT_SLO = _code("MS308", "online serving without an SLO", W,
    "An online `serving` section has no `slo`, so no latency or error alert can be made.")
MONITORING_WITHOUT_ALERTS = _code("MS309", "monitoring without alerts", W,
    "`monitoring` has no `alerts`, so nobody hears about drift.")
TEMPLATE_SYNTAX = _code("MS310", "template syntax in text", E,
    "Text that lands in generated files may not contain `${{`, `{{`, `{%` or `{#`: GitHub "
    "Actions, Airflow (Jinja) and Prometheus (Go templates) would evaluate it.")
SERVING_MODE_MISMATCH = _code("MS311", "field does not fit the serving mode", E,
    "Online serving needs `port` and takes `health_path`, `slo`, `autoscaling`, "
    "`rollout`; batch serving needs a `schedule` and takes none of the online fields.")
MISSING_FOR_FEATURE = _code("MS312", "a feature lacks what it needs", E,
    "A section relies on another that is absent, for example a `baseline` gate without "
    "a `registry`, drift checks without `monitoring.reference`, or a retraining event "
    "that monitoring never raises.")
DUPLICATE_ENTRY = _code("MS313", "duplicate entry", E,
    "A list holds the same item twice (a gate, an output path, a secret name).")
SECRET_NAME_CLASH = _code("MS314", "environment variable also listed as a secret", E,
    "A name is both in `environment.env` and `environment.secrets`.")
MIN_ABOVE_MAX = _code("MS315", "minimum above maximum", E,
    "A range has its lower bound above its upper bound (schema `min`/`max`, "
    "`autoscaling`).")
PRODUCTION_WITHOUT_REGISTRY = _code("MS325", "production model without a registry", E,
    "A `run` string reads `${registry.production.model}` but the spec has no `registry` "
    "section to fetch the production model from.")
MONITORING_WITHOUT_METRICS = _code("MS330", "monitoring without a metrics destination", W,
    "`monitoring` names neither a `pushgateway` nor a `textfile_dir`, so the checks' results and "
    "the pipeline runs never reach Prometheus: no drift, failure or staleness alert can fire.")
SPEC_NAME_UNUSABLE = _code("MS316", "spec file name cannot be written into artifacts", E,
    "The spec's file name (or its folder, relative to the output folder) is not valid UTF-8 "
    "or holds control characters. Generated workflows, DAGs and the lock name the spec, and "
    "every one of them is UTF-8 text: rename the file.")
PARAMS_FILE = _code("MS335", "params file cannot be used", E,
    "`params_file` names a file that does not exist, is not a YAML mapping, or breaks the "
    "rules of a spec file (the same strict loader reads it); its own problems are reported at "
    "their position in that file.")
PARAM_DEFINED_TWICE = _code("MS336", "parameter defined twice", E,
    "A name is both in `params` and in `params_file`; both positions are reported.",
    "params_file: params.yaml   # defines train: {n_est: 100}\nparams:\n  train: 5")
UNKNOWN_PARAM = _code("MS337", "unknown parameter", E,
    "A node's `params:` names a key that neither `params` nor `params_file` defines.")
SCHEMA_FROM = _code("MS339", "schema_from cannot be used", E,
    "`schema_from` names a source that has no schema, forms a loop, or sits beside a `schema` of "
    "its own (a source takes its contract from one place).",
    "data:\n  live: {uri: live.csv, schema_from: data.train, schema: {a: {type: float}}}")
UNCHECKABLE_DATA = _code("MS340", "data contract on data the runtime cannot read", E,
    "A source has a column contract (or drift checks read it), but its format or location is one "
    "`check-data` and `drift` cannot read: only Parquet, CSV, JSON Lines and JSON files, local or on "
    "s3://, gs://, az:// (abfss://) and HDFS. Export the data to one of them, or drop the contract.")
NO_HEALTH_CHECK = _code("MS341", "online serving without a health check", W,
    "`serving.health_path` is null: the serving image has no HEALTHCHECK and Kubernetes probes can "
    "only see that the port accepts connections, not that the model is loaded.")
OVERLAPPING_OUTPUTS = _code("MS342", "one node's output holds another's", E,
    "An output is a folder that contains another node's output (step A writes `data/`, step B "
    "`data/features.csv`). A run cache keyed on outputs cannot tell which node changed the file, so "
    "both re-run or one is skipped silently; write them to separate paths.",
    "steps:\n  a: {run: python a.py, outputs: [data]}\n  b: {run: python b.py, outputs: [data/features.csv]}")
BATCH_BLOCK_MISUSED = _code("MS343", "serving.batch where it cannot apply", E,
    "`serving.batch` adds scheduled batch scoring next to an online server. With `mode: batch` the "
    "serving itself is the batch job: put `run`, `schedule` and `timeout` directly under `serving`.",
    "serving:\n  mode: batch\n  run: python score.py\n  schedule: '@daily'\n"
    "  batch: {run: python score.py, schedule: '@daily'}")
BATCH_RUNS_THE_SERVER = _code("MS344", "batch scoring runs the server's command", W,
    "`serving.batch.run` is the same command as `serving.run`: the scheduled job would start the "
    "server, which does not finish, so every run ends at its timeout (or never). Give the batch "
    "its own scoring command.")
JUDGE_MISSING = _code("MS345", "judge scorer without a judge", E,
    "An eval scored by `rubric` or `llm_judge` needs `llm.judge`: the model that gives the verdicts.",
    "llm:\n  evals:\n    - {name: tone, dataset: data.golden, outputs: out.jsonl, scorer: rubric, rubric: r.md, min: 0.8}")
EVAL_SCORER_PARAMS = _code("MS346", "eval scorer setting missing or unused", E,
    "`regex` needs `pattern` (a valid Python regular expression), `json_schema` needs `schema`; "
    "`pattern`, `schema` and `rubric` given to a scorer that does not read them are refused too.")
EVAL_DATASET_FORMAT = _code("MS347", "eval dataset is not JSON Lines", E,
    "An eval's `dataset` is read as JSON Lines (one case a line with `id`, `input`, `expected`); "
    "the source's format (declared or from its extension) is something else.")
GATE_EVAL_UNKNOWN = _code("MS348", "gate reads an unknown eval", E,
    "A gate metric `evals.NAME.FIELD` names no eval in `llm.evals`, or a field an eval summary does not "
    "have (score, passed, failed, errors, cases, tokens_max, latency_p95_ms, cost_per_1k_requests_usd).")
JUDGE_CONFIG = _code("MS349", "judge settings do not fit its provider", E,
    "`openai_compatible` needs `base_url` and takes an `api_key_secret` listed in `environment.secrets`; "
    "`local` needs an `entrypoint` and takes neither `base_url` nor `api_key_secret`.")
SCHEDULER_DISABLED = _code("MS351", "a retraining schedule that no target runs", E,
    "`retraining.scheduler` names the one target whose scheduler runs `retraining.schedule` (the "
    "other keeps only manual and event triggers, so the project never trains twice per tick). It "
    "names a target that the spec disables, or there is no schedule to run.",
    "retraining:\n  schedule: '0 3 * * 1'\n  scheduler: airflow\ntargets:\n  airflow: {enabled: false}   # nothing runs the schedule")
DATA_NOT_ON_RUNNER = _code("MS350", "pipeline data that a fresh machine will not have", W,
    "A pipeline node reads a data source at a relative path that no node writes and no `fetch:` "
    "brings, and the file is missing or ignored by git: on a CI runner or an Airflow worker the "
    "first node that reads it fails. Commit it, produce it in a step, or give the source a "
    "`fetch:` command (e.g. `dvc pull`).")
UNUSED_PARAM = _code("MS338", "parameter no node uses", W,
    "A parameter is neither interpolated into a command (`${params.NAME}`) nor listed in a "
    "node's `params:`, so changing it changes nothing the pipeline knows of.")
CARD_FIELD_MISSING = _code("MS363", "high-risk model card field missing", W,
    "With `governance.risk_level: high` the model card of every registered version must say what "
    "the model is for and not for: `governance.intended_use`, `limitations`, "
    "`ethical_considerations` and `out_of_scope_uses`. Each missing one is reported at `governance`.")
HIGH_RISK_NO_APPROVAL = _code("MS364", "high-risk model without a named approval", E,
    "With `governance.risk_level: high` a person must sign a model off before it is registered: "
    "`validation.approval.required: true` with named `reviewers`, so the audit record says who "
    "approved it.")
PIN_NOT_CONTENT = _code("MS366", "data pin does not identify content", E,
    "With `governance.require_pinned_data`, a source that training or validation needs must be "
    "pinned by content: `sha256:<64 hex>` (the data's SHA-256, checked whenever the pipeline reads "
    "it), `dvc:<md5 or commit>`, `lakefs:<commit id>`, or `s3-version:<version id>` for s3:// data. "
    "A tag or a date can name different data tomorrow.",
    "data:\n  customers:\n    uri: data/customers.csv\n    version: sha256:9f86d081884c7d65…")

# 4 — target capability
UNKNOWN_TARGET = _code("MS401", "unknown target", E,
    "`targets:` or `--target` names a target that is not installed.")
TARGET_CANNOT_EXPRESS = _code("MS402", "target cannot express part of the spec", E,
    "An enabled target cannot express something the spec asks for. It reports it instead "
    "of dropping it silently.")
UNPINNED_BASE_IMAGE = _code("MS403", "base image not pinned by digest", E,
    "With `governance.risk_level: high` the images mlspec builds must start from a base image "
    "pinned by digest (`python:3.11-slim@sha256:…`), so the audited model always runs on the same "
    "bytes. Reported at `environment.base_image`.")
TARGET_OPTION_INVALID = _code("MS404", "invalid target option", E,
    "An option under `targets.<name>` is unknown or has the wrong type.")
TEMPLATE_ERROR = _code("MS405", "template override fails", E,
    "A template from `--template-dir` does not compile or does not render: a syntax error, an "
    "unknown variable, or a `{{ value }}` without a language-aware filter (`py`, `sh`, `yaml`, "
    "`json`, `promql`, `md`, …), which mlspec refuses so that no user text is emitted raw.")
EPHEMERAL_STATE = _code("MS410", "state kept on throw-away machines", E,
    "A target runs nodes on machines discarded after each job (GitHub Actions runners, Kubernetes pods "
    "without a shared volume) while the artifact store or the registry is a folder on them: an error "
    "when a gate compares with `baseline: production`, a warning otherwise. Set `storage: {uri: s3://…}`.")
GHA_TOO_MANY_JOBS = _code("MS411", "more GitHub Actions jobs than one workflow run may start", E,
    "GitHub starts at most 256 jobs in one workflow run (a matrix counts each of its legs), and the "
    "training workflow would need more: nodes that run in parallel each need a job, and a chain is "
    "split where a job would outlast its runner's time limit (6 hours on GitHub-hosted runners). Run "
    "fewer nodes side by side (one step can loop over many inputs), give steps `timeout`s so that more "
    "of a chain fits in one job, or run the pipeline with another target (Airflow).")
GHA_WORKFLOW_TOO_LARGE = _code("MS412", "GitHub Actions workflow file over 500 KB", E,
    "GitHub does not start runs of a workflow file larger than 500 KB, and the training workflow "
    "would be larger: mostly the nodes' commands and the files they pass. Shorten long commands "
    "(move them into a script the step runs), or split the project into several specs.")
RUNBOOK_URL_RELATIVE = _code("MS420", "alerts link to their runbook by a relative path", W,
    "The prometheus target emits alerts with a `runbook_url`, but `targets.prometheus.runbook_url` is "
    "not set, so the link is a path relative to the output folder: a Slack message or an e-mail "
    "cannot open it. Set it to the https URL the repository is browsable under.",
    "targets:\n  prometheus: {runbook_url: \"https://github.com/example/churn/blob/main/\"}")

# 5 — writing artifacts
FOREIGN_FILE = _code("MS501", "would overwrite a file mlspec did not write", E,
    "A file at an output path has no mlspec header. mlspec never overwrites it without "
    "`--force`.")
HAND_EDITED = _code("MS502", "generated file was edited by hand", E,
    "A generated file's content no longer matches the hash in its header. Move the change "
    "into the spec (or a template override) or pass `--force`.")
STALE_ARTIFACT = _code("MS503", "artifact is stale", E,
    "`compile --check`: the file on disk differs from what the spec produces now.")
MISSING_ARTIFACT = _code("MS504", "artifact is missing", E,
    "`compile --check`: a file the spec produces is not on disk.")
UNSAFE_OUTPUT = _code("MS505", "unsafe output path", E,
    "An output path is a symbolic link, lies outside the output folder, or cannot be "
    "written.")
LOCKED = _code("MS506", "another mlspec run holds the lock", E,
    "Another `mlspec compile` is writing to the same output folder.")
ORPHAN_ARTIFACT = _code("MS507", "artifact no longer produced", E,
    "`compile --check`: a file mlspec wrote earlier is no longer produced by the spec "
    "(compile removes it).")
UNPROVEN_FILE = _code("MS508", "index lists a file mlspec cannot prove it wrote", W,
    "The index of generated files (`.mlspec-manifest.<project>.json`) lists a file the spec no longer "
    "produces, but the file does not prove it is mlspec's: no mlspec header with a matching "
    "hash (or, for JSON, not the recorded hash at a path mlspec generates), or the entry names "
    "the spec, something under `.git`, or a path outside the output folder. mlspec leaves it "
    "in place — also with `--force` — and drops the entry from the index.")
RECOVERED = _code("MS509", "an interrupted compile was completed or undone", W,
    "A previous `mlspec compile` was killed while moving files into place. Its journal "
    "(`.mlspec-journal.json`) listed every rename; this compile completed them (every staged "
    "file was still there) or undid them (from the backups), so the output is consistent "
    "again. The message lists the files it touched.")
STALE_STAGING = _code("MS510", "leftovers of an interrupted compile removed", W,
    "A staging folder (`.mlspec-staging-*`) or an unusable journal left by a compile that was "
    "killed before it changed any output file (or whose work can no longer be replayed) was "
    "removed. With `--check` it is only reported.")
UNFINISHED_WRITE = _code("MS511", "an interrupted compile left unfinished work", E,
    "`compile --check`: a journal (`.mlspec-journal.json`) shows that a compile was killed "
    "while moving files into place; run `mlspec compile` to complete or undo it. Also reported "
    "when the journal cannot be replayed because of a file-system error.")
WORKFLOWS_NOT_READ = _code("MS512", "workflows written where GitHub does not read them", W,
    "GitHub reads workflows only from `.github/workflows/` at the repository's root, but this "
    "compile writes them into a folder below it (the output folder is not the git root). The "
    "hint names the command that writes them to the root, limited to the project by `paths:`.",
    "mlspec compile ml/churn/mlproject.yaml            # writes ml/churn/.github/workflows/\n"
    "mlspec compile ml/churn/mlproject.yaml --out .    # from the root: .github/workflows/")
DUPLICATE_PROJECT = _code("MS513", "two specs of one compile have the same project name", E,
    "Several specs compiled into one output folder share it file by file, and every file name "
    "carries `project.name`: two specs with the same name would write the same files. Nothing "
    "is written for either.",
    "project: {name: churn}    # in a/mlproject.yaml and b/mlproject.yaml: rename one")
OTHER_PROJECTS_FILE = _code("MS514", "another project's file", E,
    "The output folder holds several projects, each with its own index "
    "(`.mlspec-manifest.<project>.json`); another project's index lists a file this compile "
    "would write. A compile never changes another project's files, also not with `--force`: "
    "give the projects different names.")

# 6 — runtime commands
GATE_FAILED = _code("MS601", "gate failed", E,
    "`mlspec gate`: a metric is outside its bound.")
METRIC_MISSING = _code("MS602", "metric missing", E,
    "`mlspec gate`: a gated metric is not in the metrics file.")
DRIFT_DETECTED = _code("MS603", "drift detected", E,
    "`mlspec drift`: a column's drift statistic crossed its threshold.")
DATA_VIOLATION = _code("MS604", "data violates its contract", E,
    "`mlspec check-data`: values break the source's column contract.")
DATA_UNREADABLE = _code("MS605", "data cannot be read", E,
    "A data or metrics file is missing, unreadable or in an unsupported format.")
REGISTRY_ERROR = _code("MS606", "registry error", E,
    "The model registry cannot be read or written.")
RUNTIME_MISSING = _code("MS607", "optional runtime dependency missing", E,
    "A runtime command needs an extra: `pip install 'mlspec-compiler[runtime]'` (or `[mlflow]`).")
NODE_FAILED = _code("MS608", "pipeline node failed", E,
    "`mlspec run`: a node's command exited non-zero or timed out.")
PUSH_FAILED = _code("MS609", "metrics push failed", W,
    "The Pushgateway could not be reached or refused the metrics; the command's verdict stands.")
DATA_STALE = _code("MS610", "data is stale", E,
    "`mlspec freshness`: a source's newest data is older than its `freshness` bound.")
UNKNOWN_RUN_NODE = _code("MS670", "report-run names no node of the plan", E,
    "`mlspec report-run --node` takes a node id of the plan (`train`, `monitor.drift`), its slug "
    "(the Airflow task id) or `pipeline` / `monitoring` for a whole run.")
PERFORMANCE_OUT_OF_BOUNDS = _code("MS611", "live performance out of bounds", E,
    "`mlspec performance`: the live metric is below `monitoring.performance.min` or above `max`.")
CHECK_OUT_OF_BOUNDS = _code("MS626", "custom check out of bounds", E,
    "`mlspec custom-check`: a metric of a `monitoring.checks` entry is below its bound's `min` or above "
    "its `max`; the check records a finding and raises its `event`.")
CHECK_METRIC_MISSING = _code("MS627", "custom check metric missing", E,
    "`mlspec custom-check`: a bounded metric is missing from the check's metrics JSON, or is not a "
    "finite number. The check records an error (never a finding), so no retrain starts on it.")
CI_BASELINE_UNAVAILABLE = _code("MS628", "production metrics unavailable to the pull request", W,
    "`mlspec ci-baseline fetch`: the production model's metrics could not be read from the train "
    "workflow's artifact (no API access, a damaged or oversized artifact). The pull request's gate "
    "runs without a baseline and shows no deltas; it is never failed for this.")
EVAL_FAILED = _code("MS680", "eval score out of bounds", E,
    "`mlspec eval`: an eval's score (the share of cases that passed) is below its `min` or above its `max`.")
EVAL_OUTPUTS = _code("MS681", "eval outputs unusable", E,
    "`mlspec eval`: the eval's `run` command failed, or its `outputs` file is missing, not JSON Lines of "
    "objects with `id` and `output`, or names a case the dataset lacks.")
EVAL_DATASET = _code("MS682", "eval dataset unusable", E,
    "`mlspec eval`: the dataset is missing or not JSON Lines of objects with a unique `id`, or a case has "
    "no output (a missing output is a failed case and reported once).")
JUDGE_UNAVAILABLE = _code("MS683", "judge gave up", E,
    "`mlspec eval`: the judge did not answer after its retries (timeouts, HTTP 429 or 5xx) or refused the "
    "request (another HTTP error); the diagnostic names the eval and the last HTTP status.")
JUDGE_REPLY = _code("MS684", "judge reply unusable", W,
    "`mlspec eval`: a judge reply was not the verdict asked for (not JSON, no `score`); that case counts as "
    "an error (not passed), the eval goes on.")
REVIEW_PENDING = _code("MS685", "human review pending", E,
    "`mlspec eval`: a `human` eval has cases without a verdict in `.mlspec/reviews/<eval>.jsonl`; fill in "
    "`verdict` (true/false or a score 0–1) and run it again.")
BUDGET_EXCEEDED = _code("MS686", "LLM budget exceeded", E,
    "`mlspec eval`: the eval's outputs exceed an `llm.budgets` bound (largest tokens per request, p95 "
    "latency, cost per thousand requests).")
EVAL_FILE = _code("MS687", "eval file unreadable", E,
    "`mlspec eval`: the eval's rubric, JSON Schema or review file cannot be read or parsed, or a local "
    "judge's entrypoint cannot be imported.")
RUN_LOCKED = _code("MS612", "another mlspec run is running in this folder", E,
    "`mlspec run`: a second run in the same folder would race the first on the run cache, "
    "the logs and the outputs; it stops at once and names the running process.")
RUN_CACHE_RESET = _code("MS613", "run cache unreadable; treated as empty", W,
    "`mlspec run`: `.mlspec/cache/nodes.json` is not what mlspec writes (wrong shape, not "
    "JSON, too large, not a regular file). Every node runs again and the cache is rewritten.")
STATE_INVALID = _code("MS614", "monitoring state file is invalid", E,
    "`mlspec retrain-trigger`: a state file in the monitoring state folder exists but holds "
    "something mlspec never writes (a timestamp that is not a time, a status that is not "
    "`event`, `ok` or `error`). No retrain is decided on a corrupt record; its content is "
    "never printed.")
PUSHGATEWAY_INVALID = _code("MS615", "invalid Pushgateway URL", E,
    "`--pushgateway` (or `monitoring.pushgateway`) is not an `http(s)://host[:port]` URL.")
RUN_INTERRUPTED = _code("MS616", "run interrupted by a signal", E,
    "`mlspec run` received SIGINT, SIGTERM or SIGHUP: it stopped the running node's whole "
    "process tree and recorded nothing for it.")
STORE_ERROR = _code("MS650", "artifact store unusable", E,
    "The artifact store (`storage.uri`) cannot be opened or written: an unreachable endpoint, missing "
    "credentials, a missing bucket or a refused request.")
STORE_MISSING = _code("MS651", "stored output missing", E,
    "`mlspec store restore`: the run has no record of the node that should have produced an input, or "
    "the record names an object the store does not hold.")
STORE_CORRUPT = _code("MS652", "stored object corrupt", E,
    "An object downloaded from the store does not hash to its name: it was altered or truncated.")
OUTPUT_MISSING = _code("MS653", "declared output missing", E,
    "`mlspec store save`: a node finished without writing an output it declares.")
REPORT_ATTACHMENT = _code("MS640", "report attachment unreadable", E,
    "`mlspec gate --report`: a file given with `--attach` is missing, unreadable or too large to embed "
    "(5 MiB each, 20 MiB in all); nothing is written. A missing file of `validation.outputs` is a "
    "warning: the page lists what is there.")
REPORT_NOT_WRITTEN = _code("MS641", "report cannot be written", E,
    "An HTML report (`--report`) or Markdown summary (`--summary`) cannot be written. Appending to "
    "`$GITHUB_STEP_SUMMARY` (the default inside GitHub Actions) failing is a warning; the check's "
    "verdict stands.")
BAD_SOURCE_DATE_EPOCH = _code("MS642", "SOURCE_DATE_EPOCH is not a time", E,
    "A report names the time given by `$SOURCE_DATE_EPOCH` (whole seconds since 1970), else a time "
    "taken from its inputs; any other value is refused so the report stays reproducible.")

# 63x — `mlspec diff` and `mlspec explain`
UNKNOWN_REVISION = _code("MS630", "unknown git revision", E,
    "`mlspec diff --base REV`: REV names no commit in the repository (a typo, or a branch that "
    "was not fetched: in a shallow CI checkout, fetch the base branch first).",
    "mlspec diff --base origin/mian")
SPEC_ABSENT_AT_BASE = _code("MS631", "spec absent at the base revision", W,
    "The spec file does not exist at the base revision (a new project): every node, gate, "
    "secret and permission is reported as added.")
GIT_UNAVAILABLE = _code("MS632", "git is unavailable", E,
    "`mlspec diff` without `--base-file` reads the base spec with git: `git` must be on PATH "
    "and the spec must lie inside a git work tree.")
NO_BASE_REVISION = _code("MS633", "no base revision found", E,
    "Without `--base`, `mlspec diff` compares with the merge base of HEAD and the default branch "
    "(`$GITHUB_BASE_REF`, `origin/HEAD`, `origin/main`, `origin/master`, `main`, `master`); none "
    "exists or it shares no history with HEAD (a shallow clone). Pass `--base REV`, or fetch the "
    "base branch with enough history.")
BASE_SPEC_INVALID = _code("MS634", "base spec does not compile", W,
    "The spec at the base revision has errors, so it has no Plan to compare with: every part "
    "of the current spec is reported as added. The base's own diagnostics follow.")
UNKNOWN_CODE = _code("MS635", "unknown diagnostic code", E,
    "`mlspec explain CODE`: CODE is not a diagnostic code of this mlspec version.",
    "mlspec explain MS2O1")

REGISTRY_DAMAGED = _code("MS660", "registry folder damaged", E,
    "The registry holds something `mlspec register` did not write: a pointer that is not a "
    "pointer document or names a missing version, metadata that is missing, invalid or no longer "
    "matches the hash its pointer recorded, a model whose sha256 differs from its metadata, or a "
    "symbolic link. Nothing is read from it until it is repaired (promote a valid version).")
REGISTRY_CONFLICT = _code("MS661", "registry write conflict", E,
    "Concurrent writers kept changing a registry pointer or version number; run the command again.")
REGISTRY_NO_VERSION = _code("MS662", "no such registered version", E,
    "`mlspec registry fetch/promote`: the registry has no production model yet, or no version "
    "with that number.")

DATA_PIN_MISMATCH = _code("MS690", "data differs from its pin", E,
    "The data the pipeline read does not have the content its `version` pins: its SHA-256 (or the "
    "md5 in its `.dvc` file) is another. `check-data` and `register` refuse it, so no model is "
    "registered on data other than the pinned one. Restore the pinned data, or pin the new data "
    "(the message prints its hash).")
AUDIT_TAMPERED = _code("MS691", "audit log tampered or incomplete", E,
    "`mlspec audit`: a record of the registry's audit log does not hash to what it claims, does "
    "not follow the record before it, is missing from the sequence, or a registered version has no "
    "record. The log is append-only and hash-chained; restore it from the store's versioning and "
    "find out who changed it.")
PRUNE_REFUSED = _code("MS692", "prune refused", E,
    "`mlspec registry prune`: a version or audit record is within `governance.audit_retention_days`, "
    "or the version is the production or staging version. Nothing was removed.")
APPROVAL_UNKNOWN = _code("MS693", "approver not recorded", W,
    "`mlspec register` could not learn who approved the model (in GitHub Actions: the run's "
    "environment approvals were not readable with the job's token — give the job `actions: read`; "
    "in Airflow: no approval response was passed). The audit record says the approver is unknown.")

# 9 — internal
INTERNAL = _code("MS901", "internal error", E,
    "A bug in mlspec. Run again with `--traceback` and file an issue with the output.")
