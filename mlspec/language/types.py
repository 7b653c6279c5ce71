"""Constrained scalar types of the language.

Each type validates with a message and a stable diagnostic code (the pydantic error type
is the code, e.g. ``MS108``), and carries the JSON Schema that IDEs use for autocomplete.
"""

from __future__ import annotations

import functools

import math
import posixpath
import re
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from mlspec import diagnostics as dx


class Choices:
    """Documentation of each value of a ``Literal``: ``Annotated[Literal["a", "b"], Choices(a=..., b=...)]``.

    Editors show it when they complete the value (``enumDescriptions`` and
    ``markdownEnumDescriptions`` in the JSON Schema); validation is unchanged. A value without
    an entry gets an empty description, which the schema tests refuse.
    """

    def __init__(self, **docs: str) -> None:
        self.docs = docs

    def __repr__(self) -> str:
        return f"Choices({', '.join(self.docs)})"

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> dict[str, Any]:
        schema = handler.resolve_ref_schema(handler(core_schema))
        values = schema.get("enum", [schema["const"]] if "const" in schema else [])
        docs = [self.docs.get(str(v), "") for v in values]
        schema["enumDescriptions"] = docs
        schema["markdownEnumDescriptions"] = docs
        return schema


def _fail(code: str, message: str, hint: str | None = None) -> PydanticCustomError:
    # pydantic substitutes `{key}` for each context key, in order: the message (which holds
    # user text) goes in last through the `{msg}` template, so nothing in it is substituted.
    return PydanticCustomError(code, "{msg}", {"hint": hint or "", "msg": message})


def pattern_str(
    pattern: str, code: str, what: str, *, hint: str, max_length: int = 256,
    examples: list[str] | None = None,
) -> Any:
    """A string type that must fully match ``pattern``."""
    rx = re.compile(pattern)

    def check(value: str) -> str:
        if len(value) > max_length:
            raise _fail(code, f"{what} is longer than {max_length} characters", hint)
        if not rx.fullmatch(value):
            raise _fail(code, f"invalid {what} {value!r}", hint)
        return value

    schema: dict[str, Any] = {"type": "string", "pattern": pattern, "maxLength": max_length}
    if examples:
        schema["examples"] = examples
    return Annotated[str, AfterValidator(check), WithJsonSchema(schema)]


NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
Name = pattern_str(
    NAME_PATTERN, dx.INVALID_NAME, "name",
    hint="names are lowercase letters, digits and '_', starting with a letter (e.g. 'prepare_data')",
    max_length=63, examples=["customers", "prepare"],
)
ProjectName = pattern_str(
    r"^[a-z][a-z0-9-]{0,39}$", dx.INVALID_NAME, "project name",
    hint="lowercase letters, digits and '-', starting with a letter, at most 40 characters (e.g. 'churn')",
    max_length=40, examples=["churn"],
)
MetricName = pattern_str(
    r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$", dx.INVALID_NAME, "metric name",
    hint="a metric key of the metrics JSON: letters, digits, '_', '.', '-' (e.g. 'roc_auc'); a dotted name "
         "('roc_auc.test') reads nested JSON when no flat key of that name exists",
    max_length=128, examples=["roc_auc", "p95_latency_ms"],
)
EnvName = pattern_str(
    r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", dx.INVALID_NAME, "environment variable name",
    hint="letters, digits and '_', not starting with a digit", max_length=128,
)
SecretName = pattern_str(
    r"^(?!GITHUB_)[A-Z_][A-Z0-9_]{0,127}$", dx.INVALID_NAME, "secret name",
    hint="upper-case letters, digits and '_', not starting with a digit or 'GITHUB_' (e.g. 'AWS_ACCESS_KEY_ID')",
    max_length=128, examples=["AWS_ACCESS_KEY_ID"],
)
LabelKey = pattern_str(
    r"^[a-z0-9]([a-z0-9_.-]{0,61}[a-z0-9])?$", dx.INVALID_NAME, "label key",
    hint="lowercase letters, digits, '-', '_', '.', starting and ending alphanumeric", max_length=63,
)
LabelValue = pattern_str(
    r"^([A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?)?$", dx.INVALID_STRING, "label value",
    hint="at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric", max_length=63,
)
Owner = pattern_str(
    r"^[A-Za-z0-9@][A-Za-z0-9@._+/-]{0,127}$", dx.INVALID_STRING, "owner",
    hint="an e-mail address or a team/user handle such as 'growth-ml@example.com' or '@org/team'",
    max_length=128,
)
EnvironmentName = pattern_str(
    r"^[A-Za-z0-9](?:[A-Za-z0-9 ._-]{0,253}[A-Za-z0-9._-])?$", dx.INVALID_NAME, "GitHub environment name",
    hint="letters, digits, spaces, '.', '_' and '-' as GitHub allows (e.g. 'risk-production'), "
         "at most 255 characters", max_length=255, examples=["production", "risk-production"],
)
Handle = pattern_str(
    r"^@?[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$", dx.INVALID_STRING, "reviewer or team handle",
    hint="a GitHub user or team name such as 'growth-ml-leads' or 'org/team'", max_length=100,
)
ColumnName = pattern_str(
    r"^[^\x00-\x1f\x7f]{1,256}$", dx.INVALID_STRING, "column name",
    hint="a column name of the data (spaces are fine, control characters are not)",
)
PythonVersion = pattern_str(
    r"^3\.[0-9]{1,2}$", dx.INVALID_STRING, "Python version",
    hint='write the version as a quoted string such as "3.11"', max_length=5, examples=["3.11", "3.12"],
)
Version = pattern_str(
    r"^[A-Za-z0-9][A-Za-z0-9._:+@/=-]{0,199}$", dx.INVALID_STRING, "version pin",
    hint="a tag, revision, snapshot id or 'sha256:<hex>' (letters, digits and . _ : + @ / = -)",
    max_length=200, examples=["2026-11-01", "v3", "sha256:9f86d0..."],
)
HttpPath = pattern_str(
    r"^/[A-Za-z0-9._~/-]{0,200}$", dx.INVALID_STRING, "HTTP path",
    hint="an absolute URL path such as '/healthz'", max_length=201, examples=["/healthz", "/metrics"],
)
Image = pattern_str(
    r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$",
    dx.INVALID_STRING, "container image reference",
    hint="e.g. 'python:3.11-slim' or 'python:3.11-slim@sha256:<64 hex>'", max_length=255,
    examples=["python:3.11-slim"],
)
ImageRegistry = pattern_str(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$",
    dx.INVALID_STRING, "image registry",
    hint="a registry and namespace such as 'ghcr.io/example'", max_length=255, examples=["ghcr.io/example"],
)
PackageName = pattern_str(
    r"^[a-z0-9][a-z0-9.+-]{0,99}(=[A-Za-z0-9.+:~-]{1,64})?$", dx.INVALID_STRING, "Debian package",
    hint="a Debian package name, optionally '=version' (e.g. 'libgomp1')", max_length=170,
)
HttpUrl = pattern_str(
    r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/%-]*)?$", dx.INVALID_URI, "HTTP URL",
    hint="an http(s) URL without credentials, such as 'http://pushgateway:9091'", max_length=500,
)
Text = Annotated[str, Field(max_length=4000)]
ShortText = pattern_str(
    r"^[^\x00-\x1f\x7f]{1,200}$", dx.INVALID_STRING, "text",
    hint="a single line of at most 200 characters", max_length=200,
)
Command = Annotated[str, Field(min_length=1, max_length=8000)]

# --------------------------------------------------------------------------- durations

_DURATION = re.compile(r"^([1-9][0-9]{0,5})(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> int:
    m = _DURATION.fullmatch(text)
    assert m, text
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def _check_duration(value: str) -> str:
    if not _DURATION.fullmatch(value):
        hint = "a whole number and a unit s, m, h, d or w, such as '90s', '30m', '2h' or '7d'"
        raise _fail(dx.INVALID_DURATION, f"invalid duration {value!r}", hint)
    return value


Duration = Annotated[
    str, AfterValidator(_check_duration),
    WithJsonSchema({"type": "string", "pattern": _DURATION.pattern, "examples": ["30m", "2h", "7d"]}),
]

# --------------------------------------------------------------------------- cron

_CRON_ALIASES = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0",
                 "@monthly": "0 0 1 * *"}
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
                ("day of week", 0, 7))
_MONTHS = {m: i for i, m in enumerate(
    "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)}
_DAYS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_CRON_PATTERN = r"^(@(hourly|daily|weekly|monthly)|\S+ \S+ \S+ \S+ \S+)$"


# What the runtime's data readers can check a column contract on (check-data, drift): the
# language refuses a contract on anything else at compile time instead of failing at run time.
CHECKABLE_FORMATS = ("parquet", "csv", "jsonl", "json")
CHECKABLE_SCHEMES = ("s3", "gs", "gcs", "abfs", "abfss", "hdfs", "viewfs", "https", "http")
FORMAT_OF_EXTENSION = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv", ".jsonl": "jsonl",
                       ".ndjson": "jsonl", ".json": "json", ".delta": "delta"}


def cron_expression(schedule: str) -> str:
    """The one cron form every target reads: a validated schedule with aliases expanded, month and
    day names as numbers, and Sunday as 0 only (GitHub and Kubernetes CronJobs have no 7)."""
    fields = _CRON_ALIASES.get(schedule, schedule).split(" ")
    for index, names in ((3, _MONTHS), (4, _DAYS)):
        fields[index] = re.sub(r"[A-Za-z]+", lambda m, n=names: str(n[m.group().lower()]), fields[index])
    if re.search(r"(?<![0-9])7(?![0-9])", fields[4]):
        days: set[int] = set()
        for part in fields[4].split(","):
            base, _, step = part.partition("/")
            lo, _, hi = base.partition("-")
            start, end = (0, 7) if base == "*" else (int(lo), int(hi or lo))
            days.update(d % 7 for d in range(start, end + 1, int(step or 1)))
        fields[4] = ",".join(str(d) for d in sorted(days))
    return " ".join(fields)


def _cron_set(text: str, low: int, high: int) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        lo, _, hi = base.partition("-")
        start, end = (low, high) if base == "*" else (int(lo), int(hi or (high if step else lo)))
        out.update(range(start, end + 1, int(step or 1)))
    return out


@functools.cache
def _calendar() -> tuple[tuple[int, int, int, int], ...]:
    """(day index, month, day of month, cron day of week) of every day of 2024-2027: built once."""
    import datetime as dt

    start = dt.date(2024, 1, 1)
    days = (start + dt.timedelta(days=i) for i in range(4 * 365 + 1))
    return tuple((i, d.month, d.day, (d.weekday() + 1) % 7) for i, d in enumerate(days))


@functools.lru_cache(maxsize=256)   # pure; a schedule is asked for by several targets
def cron_period_seconds(cron: str) -> int:
    """The longest gap between two runs of a normalised 5-field cron (see :func:`cron_expression`):
    what staleness alerts compare against. Counted over four years from 2024-01-01 (leap days
    included); day of month and day of week restricted both match either, as cron does."""
    minute, hour, dom, month, dow = cron.split(" ")
    minutes = sorted(h * 60 + m for h in _cron_set(hour, 0, 23) for m in _cron_set(minute, 0, 59))
    doms, months, dows = _cron_set(dom, 1, 31), _cron_set(month, 1, 12), {d % 7 for d in _cron_set(dow, 0, 7)}
    either = dom != "*" and dow != "*"
    days = []
    for i, d_month, d_day, d_dow in _calendar():
        if d_month not in months:
            continue
        by_dom, by_dow = d_day in doms, d_dow in dows
        if (by_dom or by_dow) if either else (by_dom and by_dow):
            days.append(i)
    if len(days) < 2:
        return (4 * 365 + 1) * 86400
    gaps = [b - a for a, b in zip(minutes, minutes[1:])]
    gaps += [(b - a) * 1440 + minutes[0] - minutes[-1] for a, b in zip(days, days[1:])]
    return max(gaps) * 60


def _cron_value(token: str, index: int) -> int:
    names = _MONTHS if index == 3 else _DAYS if index == 4 else {}
    if token.lower() in names:
        return names[token.lower()]
    if not token.isdigit() or len(token) > 2:
        raise ValueError(f"{token!r} is not a number")
    return int(token)


def _check_cron_field(text: str, index: int) -> None:
    name, low, high = _CRON_FIELDS[index]
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0 or len(step) > 2):
            raise ValueError(f"bad step {step!r} in the {name} field")
        if base == "*":
            continue
        lo_text, dash, hi_text = base.partition("-")
        try:
            lo = _cron_value(lo_text, index)
            hi = _cron_value(hi_text, index) if dash else lo
        except ValueError as exc:
            raise ValueError(f"{exc} in the {name} field") from None
        if not (low <= lo <= high and low <= hi <= high):
            raise ValueError(f"{base!r} is outside {low}-{high} in the {name} field")
        if lo > hi:
            raise ValueError(f"range {base!r} runs backwards in the {name} field")


def _check_cron(value: str) -> str:
    hint = "5 fields 'minute hour day month weekday' such as '0 3 * * 1', or @hourly, @daily, @weekly, @monthly"
    if value in _CRON_ALIASES:
        return value
    fields = value.split(" ")
    if len(fields) != 5 or any(not f for f in fields):
        raise _fail(dx.INVALID_SCHEDULE, f"invalid schedule {value!r}: expected 5 fields separated by single spaces", hint)
    try:
        for i, f in enumerate(fields):
            _check_cron_field(f, i)
    except ValueError as exc:
        raise _fail(dx.INVALID_SCHEDULE, f"invalid schedule {value!r}: {exc}", hint) from None
    return value


Schedule = Annotated[
    str, AfterValidator(_check_cron),
    WithJsonSchema({"type": "string", "pattern": _CRON_PATTERN,
                    "examples": ["@daily", "0 3 * * 1"]}),
]

# --------------------------------------------------------------------------- quantities

_MEMORY = re.compile(r"^([0-9]{1,12})(\.[0-9]{1,6})?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")
_MEMORY_FACTOR = {None: 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
                  "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50}


def memory_bytes(text: str) -> int:
    m = _MEMORY.fullmatch(text)
    assert m, text
    return int(float(m.group(1) + (m.group(2) or "")) * _MEMORY_FACTOR[m.group(3)])


def _check_memory(value: str) -> str:
    m = _MEMORY.fullmatch(value)
    if not m or memory_bytes(value) <= 0:
        raise _fail(dx.INVALID_QUANTITY, f"invalid memory quantity {value!r}",
                    "a Kubernetes quantity such as '512Mi', '8Gi' or '1G'")
    return value


Memory = Annotated[
    str, AfterValidator(_check_memory),
    WithJsonSchema({"type": "string", "pattern": _MEMORY.pattern, "examples": ["512Mi", "8Gi"]}),
]


def _check_cpu(value: Any) -> float | str:
    hint = "a positive number of cores such as 2 or 0.5, or millicores such as '500m'"
    if isinstance(value, bool):
        raise _fail(dx.WRONG_TYPE, "cpu must be a number, not a boolean", hint)
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value <= 0 or value > 1024:
            raise _fail(dx.INVALID_QUANTITY, f"invalid cpu {value!r}", hint)
        return value
    if isinstance(value, str) and re.fullmatch(r"[1-9][0-9]{0,6}m", value):
        return value
    raise _fail(dx.INVALID_QUANTITY, f"invalid cpu {value!r}", hint)


Cpu = Annotated[
    Any, PlainValidator(_check_cpu),
    WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0, "maximum": 1024},
                              {"type": "string", "pattern": r"^[1-9][0-9]{0,6}m$"}],
                    "examples": [2, 0.5, "500m"]}),
]


def cpu_cores(value: float | str) -> float:
    return int(value[:-1]) / 1000 if isinstance(value, str) else float(value)


# --------------------------------------------------------------------------- paths and URIs

def relative_path_problem(value: str) -> str | None:
    """Why ``value`` is not a safe relative path inside the project, or None."""
    if not value or value.strip() != value:
        return "is empty or has surrounding spaces"
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        return "contains a control character"
    if "\\" in value:
        return "contains a backslash; use '/'"
    if value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", value):
        return "is absolute"
    norm = posixpath.normpath(value)
    if norm == ".." or norm.startswith("../"):
        return "escapes the project folder"
    parts = norm.split("/")
    if any(p.casefold() == ".git" for p in parts):
        return "points into .git, which mlspec never writes"
    if parts[0].startswith(".mlspec-"):
        return "is reserved for mlspec's bookkeeping (.mlspec-manifest.<project>.json, .mlspec-journal.json, .mlspec-staging-*)"
    return None


def _check_relpath(value: str) -> str:
    problem = relative_path_problem(value)
    if problem:
        raise _fail(dx.PATH_ESCAPES, f"path {value!r} {problem}",
                    "paths are relative to the spec's folder, like 'models/model.joblib'")
    if len(value) > 1024:
        raise _fail(dx.INVALID_STRING, "path is longer than 1024 characters")
    return value


RelPath = Annotated[
    str, AfterValidator(_check_relpath),
    WithJsonSchema({"type": "string", "pattern": r"^(?![/~\\])(?![A-Za-z]:)[^\\]+$", "maxLength": 1024}),
]

_URI_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]{0,31})://(.*)$", re.S)


def _check_uri(value: str) -> str:
    hint = "a URI with a scheme such as 's3://bucket/key.parquet' or a path relative to the spec"
    if len(value) > 2048:
        raise _fail(dx.INVALID_URI, "URI is longer than 2048 characters", hint)
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise _fail(dx.INVALID_URI, f"invalid URI {value!r}: control characters", hint)
    m = _URI_SCHEME.match(value)
    if m:
        if any(c.isspace() for c in value):
            raise _fail(dx.INVALID_URI, f"invalid URI {value!r}: a URI has no spaces (encode them as %20)", hint)
        if not m.group(2):
            raise _fail(dx.INVALID_URI, f"invalid URI {value!r}: nothing after the scheme", hint)
        return value
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", value) and not re.match(r"^[A-Za-z]:[\\/]", value):
        raise _fail(dx.INVALID_URI, f"invalid URI {value!r}: a scheme needs '://'", hint)
    problem = relative_path_problem(value)
    if problem:
        code = dx.PATH_ESCAPES if problem in ("is absolute", "escapes the project folder") else dx.INVALID_URI
        raise _fail(code, f"data path {value!r} {problem}", hint)
    return value


Uri = Annotated[
    str, AfterValidator(_check_uri),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 2048,
                    "pattern": r"^(?:[A-Za-z][A-Za-z0-9+.-]{0,31}://\S+|(?![A-Za-z][A-Za-z0-9+.-]*:)(?![/~ ])[^\\\u0000-\u001f]+)$",
                    "examples": ["s3://bucket/data.parquet", "data/train.csv"]}),
]


STORE_SCHEMES = ("s3", "gs", "az", "abfss")


def _check_store_uri(value: str) -> str:
    hint = "'s3://bucket/prefix', 'gs://…', 'az://…', 'abfss://…' or a folder relative to the spec"
    value = _check_uri(value)
    m = _URI_SCHEME.match(value)
    if m:
        scheme = m.group(1).lower()
        if scheme not in STORE_SCHEMES:
            raise _fail(dx.INVALID_URI, f"unsupported store scheme {scheme + '://'!r}", hint)
        if "@" in m.group(2).split("/", 1)[0]:
            raise _fail(dx.INVALID_URI, "a store URI carries no credentials",
                        "list the credential variables under storage.secrets; they come from the environment")
    return value


StoreUri = Annotated[
    str, AfterValidator(_check_store_uri),
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 2048,
                    "pattern": r"^(?:(?:[sS]3|[gG][sS]|[aA][zZ]|[aA][bB][fF][sS][sS])://[^\s@/]+(?:/\S*)?|(?![A-Za-z][A-Za-z0-9+.-]*:)(?![/~ ])[^\\\u0000-\u001f]+)$",
                    "examples": ["s3://acme-ml/churn", ".mlspec/store"]}),
]


def uri_scheme(uri: str) -> str | None:
    m = _URI_SCHEME.match(uri)
    return m.group(1).lower() if m else None


# --------------------------------------------------------------------------- references

REFERENCE_PATTERN = r"^(data\.[a-z][a-z0-9_]*|steps\.[a-z][a-z0-9_]*|training|validation)$"
Reference = pattern_str(
    REFERENCE_PATTERN, dx.UNKNOWN_REFERENCE, "reference",
    hint="one of 'data.NAME', 'steps.NAME', 'training' or 'validation'",
    max_length=80, examples=["data.customers", "steps.prepare", "training"],
)
DataReference = pattern_str(
    r"^data\.[a-z][a-z0-9_]*$", dx.WRONG_REFERENCE_KIND, "data reference",
    hint="a data source written as 'data.NAME'", max_length=80, examples=["data.customers"],
)


# --------------------------------------------------------------------------- scalars


PARAM_DEPTH = 8
PARAM_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,99}$")


def _check_param(value: Any, depth: int = 0) -> Any:
    """A parameter: a scalar, or (from ``params.yaml`` or the spec) a list or a mapping of them."""
    if isinstance(value, list) and depth < PARAM_DEPTH:
        if len(value) > 1000:
            raise _fail(dx.OUT_OF_RANGE, "a parameter list holds at most 1000 items")
        return [_check_param(v, depth + 1) for v in value]
    if isinstance(value, dict) and depth < PARAM_DEPTH:
        for key in value:
            if not isinstance(key, str) or not PARAM_KEY.fullmatch(key):
                raise _fail(dx.INVALID_NAME, f"invalid parameter name {key!r}",
                            "parameter names are letters, digits, '_' and '-', starting with a letter or '_'")
        return {k: _check_param(v, depth + 1) for k, v in value.items()}
    if isinstance(value, bool) or isinstance(value, (int, str)):
        if isinstance(value, str) and len(value) > 4000:
            raise _fail(dx.INVALID_STRING, "parameter text is longer than 4000 characters")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(dx.OUT_OF_RANGE, "parameter must be a finite number")
        return value
    raise _fail(dx.WRONG_TYPE, f"a parameter is a number, text, true/false, a list or a mapping, not "
                f"{type_word(value)}", f"params nest at most {PARAM_DEPTH} levels deep")


ParamValue = Annotated[
    Any, PlainValidator(_check_param),
    WithJsonSchema({"type": ["string", "number", "integer", "boolean", "array", "object"],
                    "description": "A scalar, a list or a mapping of parameters; nested values are "
                                   "addressed as ${params.a.b}."}),
]
ParamKey = pattern_str(
    r"^[A-Za-z_][A-Za-z0-9_-]{0,99}(\.[A-Za-z_][A-Za-z0-9_-]{0,99}){0,7}$", dx.INVALID_NAME, "parameter key",
    hint="a parameter's dotted key as in params.yaml, e.g. 'train.n_est'", max_length=400,
    examples=["train.n_est"])


def _check_category(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise _fail(dx.WRONG_TYPE, f"an allowed value is text or an integer, not {type_word(value)}")
    return value


CategoryValue = Annotated[
    Any, PlainValidator(_check_category), WithJsonSchema({"type": ["string", "integer"]}),
]


def type_word(value: Any) -> str:
    """How a YAML user would name the type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
