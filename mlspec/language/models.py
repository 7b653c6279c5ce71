"""The v1 language as pydantic models: they mirror ``mlproject.yaml`` one to one.

Strict (no coercion), ``extra="forbid"``, frozen. Keys starting with ``x-`` are removed
before validation (see :mod:`mlspec.language.validate`) and allowed by the JSON Schema. Every field
has a description: they become IDE hover text and ``docs/reference.md``.

No ``from __future__ import annotations`` here: pydantic would then evaluate every field's
annotation from its text, a compile per field at every start of the CLI. The models are also
built on first use (``defer_build``): one schema build for the whole language instead of
one validator per model.
"""

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from mlspec.events import EVENTS, AlertEvent, RetrainEvent
from mlspec.language.types import (
    Choices, CategoryValue, Command, ParamKey, ParamValue, ColumnName, Cpu, DataReference, Duration, EnvName, EnvironmentName, Handle, HttpPath, HttpUrl, Image,
    LabelKey, LabelValue, Memory, MetricName, Name, Owner, PackageName, ProjectName,
    PythonVersion, Reference, RelPath, Schedule, SecretName, ShortText, StoreUri, Text, Uri, Version,
)

Finite = Annotated[float, Field(allow_inf_nan=False)]
PARAMS_READ = ("Parameters the command reads from `params_file` itself (DVC style), by dotted key: the run "
               "cache and the generated pipelines re-run the node when one of these values changes, and not "
               "when another key of the file does. Interpolated `${params.…}` are tracked without listing them.")


def _allow_extensions(schema: dict[str, Any]) -> None:
    schema["patternProperties"] = {"^x-": {"description": "extension, ignored by mlspec"}}


class Model(BaseModel):
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, allow_inf_nan=False,
        json_schema_extra=_allow_extensions, use_attribute_docstrings=False, defer_build=True,
    )


# ------------------------------------------------------------------------ project


class Project(Model):
    """Identity and ownership of the project."""

    name: ProjectName = Field(description="Names generated files, jobs, images and metric labels.")
    description: Text | None = Field(None, description="What the model does, in a sentence or two.")
    owners: list[Owner] = Field(default_factory=list, max_length=50,
                                description="Who answers for this model (e-mail addresses or team handles).")
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=50,
                                               description="Free labels copied onto images, DAG tags and manifests.")
    repository: ShortText | None = Field(None, description="Where the code lives, e.g. 'github.com/example/churn'.")


# ------------------------------------------------------------------------ environment


class Environment(Model):
    """How the project's code runs."""

    python: PythonVersion = Field("3.11", description='Python version as a quoted string, e.g. "3.11".')
    requirements: RelPath | None = Field(None, description="A pip requirements file, relative to the spec.")
    base_image: Image | None = Field(None, description="Base container image; default 'python:<python>-slim'. "
                                     "Pin it by digest ('image:tag@sha256:…') for reproducible builds.")
    system_packages: list[PackageName] = Field(default_factory=list, max_length=200,
                                               description="Debian packages installed into the images.")
    env: dict[EnvName, str] = Field(default_factory=dict, max_length=200,
                                    description="Plain environment variables for every command. Never put secrets here.")
    secrets: list[SecretName] = Field(default_factory=list, max_length=100,
                                      description="Names of secrets provided by the platform (GitHub secrets, "
                                                  "Airflow connections, Kubernetes secrets). Values never appear in the spec.")
    test: Command | None = Field(None, description="The project's own test command, run by the generated CI "
                                 "workflow, e.g. 'python -m pytest'.")


# ------------------------------------------------------------------------ data


ColumnType = Annotated[Literal["string", "integer", "float", "boolean", "category", "datetime", "date"], Choices(
    string="Text.", integer="Whole numbers; `min`/`max` apply.", float="Real numbers; `min`/`max` apply.",
    boolean="`true` or `false`.", category="One of a fixed set: list them in `values`.",
    datetime="Timestamps (ISO 8601 or the format's native timestamp type).",
    date="Calendar dates (ISO 8601 or the format's native date type).")]


class Column(Model):
    """The contract of one column."""

    type: ColumnType = Field(description="Logical type of the column.")
    nullable: bool = Field(True, description="Whether missing values are allowed.")
    min: Finite | None = Field(None, description="Smallest allowed value (numbers).")
    max: Finite | None = Field(None, description="Largest allowed value (numbers).")
    values: list[CategoryValue] | None = Field(None, min_length=1, max_length=1000,
                                           description="Allowed values (categories).")
    unique: bool = Field(False, description="Whether every value must be distinct.")
    description: Text | None = Field(None, description="What the column means.")


DataFormat = Annotated[Literal["parquet", "csv", "jsonl", "json", "delta", "table"], Choices(
    parquet="Apache Parquet: a file, or a folder of files.", csv="Comma-separated values with a header row.",
    jsonl="JSON Lines: one JSON object per line.", json="One JSON document: an array of records.",
    delta="A Delta Lake table.", table="A database or warehouse table named by the URI.")]


DataRole = Annotated[Literal["training", "evaluation", "reference", "live", "labels", "other"], Choices(
    training="Data the model is trained on.", evaluation="Held-out data for evaluation and LLM evals.",
    reference="The distribution monitoring compares live data with.",
    live="What production sees now (scoring logs).",
    labels="Ground truth that arrives later, for live performance.", other="Anything else (the default).")]


class DataSource(Model):
    """A named data source."""

    uri: Uri = Field(description="Where the data is: a URI with a scheme (s3://, gs://, postgresql://, …) "
                     "or a path relative to the spec.")
    format: DataFormat | None = Field(None, description="Storage format; default from the URI's extension.")
    version: Version | None = Field(None, description="A pin: tag, DVC/lakeFS revision, snapshot id or 'sha256:<hex>'.")
    role: DataRole = Field("other", description="What the source is for.")
    freshness: Duration | None = Field(None, description="Alert when the source is older than this.")
    description: Text | None = Field(None, description="What the data is.")
    schema_: dict[ColumnName, Column] | None = Field(
        None, alias="schema", max_length=2000,
        description="The column contract, checked in pipelines (check-data) and monitoring. "
                    "Keys are the data's own column names.")
    sample: RelPath | None = Field(
        None, description="A small extract committed with the project (same format and columns): pull requests "
                          "run the pipeline on it in place of `uri`, which they cannot read (no credentials) or "
                          "should not wait for. Commands that interpolate `${data.NAME.uri}` get its path, the "
                          "column contract is checked on it, and the source's `fetch` is skipped.")
    fetch: Command | None = Field(
        None, description="How the data gets onto a machine that runs the pipeline when it is not in git, e.g. "
                          "'dvc pull data/raw.csv.dvc': run before the first node that reads the source, in every "
                          "target and in `mlspec run`; its output is the source's `uri`.")
    schema_from: DataReference | None = Field(
        None, description="Use the column contract of another source (`data.NAME`) instead of writing it "
                          "twice; YAML anchors are refused, this is the language's way to reuse a contract.")


# ------------------------------------------------------------------------ steps and training


class Resources(Model):
    """Compute requested for a command."""

    cpu: Cpu | None = Field(None, description="CPU cores (2, 0.5) or millicores ('500m').")
    memory: Memory | None = Field(None, description="Memory as a Kubernetes quantity ('512Mi', '8Gi').")
    gpu: int | None = Field(None, ge=0, le=64, description="Number of GPUs.")


class Step(Model):
    """A custom pipeline step (prepare, featurize, …)."""

    run: Command = Field(description="Shell command. Interpolates ${params.NAME}, ${data.NAME.uri}, "
                         "${data.NAME.version}, ${project.name}; other ${…} and $VAR are left to the shell.")
    description: Text | None = Field(None, description="What the step does.")
    needs: list[Reference] = Field(default_factory=list, max_length=200,
                                   description="What must run or exist first: data.NAME or steps.NAME.")
    inputs: list[RelPath] = Field(default_factory=list, max_length=200,
                                  description="Files the step reads besides its needs (for caching and artifacts).")
    params: list[ParamKey] = Field(default_factory=list, max_length=200, description=PARAMS_READ)
    outputs: list[RelPath] = Field(default_factory=list, max_length=200,
                                   description="Files or folders the step writes, passed on to later steps.")
    resources: Resources = Field(default_factory=Resources, description="Compute for the step.")
    timeout: Duration | None = Field(None, description="Stop the step after this long.")
    retries: int = Field(0, ge=0, le=10, description="How often to retry a failed run.")
    env: dict[EnvName, str] = Field(default_factory=dict, max_length=200,
                                    description="Extra environment variables for this step.")
    secrets: list[SecretName] | None = Field(None, max_length=100,
                                             description="Which environment.secrets this step receives; default all.")


TrackingBackend = Annotated[Literal["mlflow", "none"], Choices(
    mlflow="Log parameters, metrics and the model to MLflow (`MLFLOW_TRACKING_URI`).",
    none="No experiment tracking (the default).")]


class Tracking(Model):
    """Experiment tracking."""

    backend: TrackingBackend = Field("none", description="mlflow or none.")
    experiment: ShortText | None = Field(None, description="Experiment name; default the project name.")


class TrainingOutputs(Model):
    """Files the training command writes."""

    model: RelPath = Field(description="The trained model file.")
    metrics: RelPath | None = Field(None, description='Optional JSON of training metrics: {"name": number}, or nested objects addressed by dotted names.')


class Training(Model):
    """The training step."""

    run: Command = Field(description="Training command; interpolations as in steps.")
    description: Text | None = Field(None, description="What training does.")
    needs: list[Reference] = Field(default_factory=list, max_length=200, description="What must run first.")
    inputs: list[RelPath] = Field(default_factory=list, max_length=200, description="Other files read.")
    params: list[ParamKey] = Field(default_factory=list, max_length=200, description=PARAMS_READ)
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Random seed, exported as MLSPEC_SEED.")
    resources: Resources = Field(default_factory=Resources, description="Compute for training.")
    timeout: Duration | None = Field(None, description="Stop training after this long.")
    retries: int = Field(0, ge=0, le=10, description="How often to retry a failed run.")
    tracking: Tracking = Field(default_factory=Tracking, description="Experiment tracking.")
    outputs: TrainingOutputs = Field(description="What training produces; `model` is required.")
    env: dict[EnvName, str] = Field(default_factory=dict, max_length=200, description="Extra environment variables.")
    secrets: list[SecretName] | None = Field(None, max_length=100,
                                             description="Which environment.secrets training receives; default all.")


# ------------------------------------------------------------------------ validation


Baseline = Annotated[Literal["production"], Choices(
    production="The model version now in production, read from the registry.")]


def _gate_needs_a_bound(schema: dict[str, Any]) -> None:
    _allow_extensions(schema)
    # MS301 in the compiler; said in the schema too so editors flag it while typing.
    schema["anyOf"] = [{"required": ["min"]}, {"required": ["max"]}, {"required": ["baseline"]}]


class Gate(Model):
    """A condition a model must meet before it is registered and deployed."""

    model_config = ConfigDict(json_schema_extra=_gate_needs_a_bound)

    metric: MetricName = Field(description="Key in the metrics JSON; a dotted name ('roc_auc.test') reads "
                               "nested JSON ({\"roc_auc\": {\"test\": 0.93}}) unless a flat key of that name exists.")
    min: Finite | None = Field(None, description="Fail below this value.")
    max: Finite | None = Field(None, description="Fail above this value.")
    baseline: Baseline | None = Field(None, description="Compare with the model now in production.")
    max_regression: Finite | None = Field(None, ge=0, description="With baseline: the largest allowed "
                                          "worsening against production (absolute).")
    higher_is_better: bool = Field(True, description="Direction of the metric, for baseline comparison.")
    description: ShortText | None = Field(None, description="Why the gate exists.")


class Approval(Model):
    """Human approval before release."""

    required: bool = Field(False, description="Whether a person must approve before registering and deploying.")
    environment: EnvironmentName | None = Field(None, description="GitHub environment with required reviewers; "
                                     "default 'production'.")
    reviewers: list[Handle] = Field(default_factory=list, max_length=50, description="Who may approve.")


class Validation(Model):
    """Evaluation and the gates a model must pass."""

    run: Command = Field(description="Evaluation command; writes the metrics JSON.")
    description: Text | None = Field(None, description="What evaluation does.")
    needs: list[Reference] = Field(default_factory=list, max_length=200,
                                   description="What must exist first; training is implied.")
    inputs: list[RelPath] = Field(default_factory=list, max_length=200, description="Other files read.")
    params: list[ParamKey] = Field(default_factory=list, max_length=200, description=PARAMS_READ)
    metrics: RelPath = Field(description='JSON of metrics the gates read: {"name": number}, or nested objects '
                                         "addressed by dotted names ('roc_auc.test').")
    outputs: list[RelPath] = Field(default_factory=list, max_length=200,
                                   description="Other files evaluation writes (plots, reports): saved with the run, "
                                               "shown in run and pull-request summaries (images inline).")
    gates: list[Gate] = Field(default_factory=list, max_length=100, description="Conditions to pass.")
    approval: Approval = Field(default_factory=Approval, description="Human approval.")
    resources: Resources = Field(default_factory=Resources, description="Compute for evaluation.")
    timeout: Duration | None = Field(None, description="Stop evaluation after this long.")
    retries: int = Field(0, ge=0, le=10, description="How often to retry a failed run.")
    env: dict[EnvName, str] = Field(default_factory=dict, max_length=200, description="Extra environment variables.")
    secrets: list[SecretName] | None = Field(None, max_length=100,
                                             description="Which environment.secrets evaluation receives; default all.")


# ------------------------------------------------------------------------ registry and serving


RegistryBackend = Annotated[Literal["local", "mlflow"], Choices(
    local="A folder (default `.mlspec/registry`) holding each version with its lineage.",
    mlflow="The MLflow model registry at `uri` (a tracking server).")]


class Registry(Model):
    """Where approved models are versioned."""

    backend: RegistryBackend = Field("local", description="local (a folder or object store) or mlflow.")
    uri: str | None = Field(None, max_length=500, description="local: a folder relative to the spec or a "
                            "store URI (s3://, gs://, az://; default '<storage.uri>/registry' with storage, "
                            "else '.mlspec/registry'); mlflow: the tracking server URI.")
    model_name: ProjectName | None = Field(None, description="Registered model name; default the project name.")


class Storage(Model):
    """Where pipeline outputs are kept between nodes and runs (the artifact store)."""

    uri: StoreUri = Field(description="The store: 's3://bucket/prefix', 'gs://…', 'az://…', 'abfss://…' or a "
                                      "folder relative to the spec. Without a storage section: '.mlspec/store'.")
    endpoint: HttpUrl | None = Field(None, description="An S3-compatible server instead of AWS, e.g. "
                                                       "'http://minio:9000' (MinIO, Ceph, moto).")
    secrets: list[SecretName] = Field(default_factory=list, max_length=20,
                                      description="Names of the environment variables holding the store's "
                                                  "credentials, e.g. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; "
                                                  "passed to every job that saves or restores outputs.")


ServingMode = Annotated[Literal["online", "batch"], Choices(
    online="An HTTP service: deployment, service, health checks, autoscaling, SLO alerts.",
    batch="Scheduled scoring runs (`schedule`).")]


class Autoscaling(Model):
    """Horizontal autoscaling."""

    min_replicas: int = Field(1, ge=1, le=1000, description="Fewest replicas.")
    max_replicas: int = Field(ge=1, le=1000, description="Most replicas.")
    target_cpu_percent: int = Field(70, ge=1, le=100, description="Average CPU utilisation to aim for.")


RolloutStrategy = Annotated[Literal["rolling", "canary", "blue_green"], Choices(
    rolling="Replace replicas a few at a time (the default).",
    canary="Shift traffic to the new version in `canary_steps` percentages.",
    blue_green="Start the new version beside the old one, then switch all traffic at once.")]


class Rollout(Model):
    """How a new model version reaches traffic."""

    strategy: RolloutStrategy = Field("rolling", description="rolling, canary or blue_green.")
    canary_steps: list[Annotated[int, Field(ge=1, le=100)]] = Field(
        default_factory=list, max_length=20, description="Traffic percentages for canary, ascending, ending at 100.")


class Slo(Model):
    """Service level objectives; each becomes an alert."""

    latency_p95_ms: Finite | None = Field(None, gt=0, description="95th percentile latency bound in milliseconds.")
    error_rate: Finite | None = Field(None, ge=0, le=1, description="Largest allowed share of failed requests (0–1).")
    availability: Finite | None = Field(None, gt=0, le=1, description="Smallest allowed share of successful requests (0–1).")


class ServingMetrics(Model):
    """Names of the metrics the server itself exports."""

    latency_histogram: Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$")] = Field(
        "http_request_duration_seconds", description="Prometheus histogram of request latency in seconds.")
    requests_total: Annotated[str, Field(pattern=r"^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$")] = Field(
        "http_requests_total", description="Prometheus counter of requests, with a 'status' label.")
    labels: dict[Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$")], ShortText] | None = Field(
        None, max_length=20, description="Label matchers that select the server's own series in Prometheus; "
        "every rule and dashboard panel uses them. Default {project: <project.name>}, which the generated "
        "scrape configuration attaches.")


class ServingBatch(Model):
    """Batch scoring next to an online server, from the same serving image."""

    run: Command = Field(description="Command that scores one batch (interpolations as in serving.run).")
    schedule: Schedule = Field(description="When to score.")
    timeout: Duration | None = Field(None, description="Stop a run after this long.")
    resources: Resources | None = Field(None, description="Compute per run; default serving.resources.")
    env: dict[EnvName, str] = Field(default_factory=dict, max_length=200,
                                    description="Extra environment variables, over serving.env.")


class Serving(Model):
    """Online API or batch scoring."""

    mode: ServingMode = Field(description="online (an HTTP service) or batch (scheduled scoring).")
    run: Command = Field(description="Command that starts the server or runs one batch.")
    port: int | None = Field(None, ge=1, le=65535, description="online: the port the server listens on.")
    health_path: HttpPath | None = Field(
        "/healthz", description="online: health check path; null for a server without one (the image then has "
                                "no HEALTHCHECK and Kubernetes probes only check that the port accepts connections).")
    metrics_path: HttpPath = Field("/metrics", description="online: Prometheus metrics path.")
    replicas: int = Field(1, ge=1, le=1000, description="online: replicas without autoscaling.")
    resources: Resources = Field(default_factory=Resources, description="Compute per replica or batch run.")
    autoscaling: Autoscaling | None = Field(None, description="online: horizontal autoscaling.")
    rollout: Rollout = Field(default_factory=Rollout, description="online: rollout strategy.")
    slo: Slo | None = Field(None, description="online: service level objectives.")
    metrics: ServingMetrics = Field(default_factory=ServingMetrics, description="online: exported metric names.")
    schedule: Schedule | None = Field(None, description="batch: when to score.")
    timeout: Duration | None = Field(None, description="batch: stop a run after this long.")
    batch: ServingBatch | None = Field(None, description="online: also score in batches on a schedule with the "
                                       "serving image (a second workload next to the server).")
    env: dict[EnvName, str] = Field(default_factory=dict, max_length=200, description="Extra environment variables.")
    secrets: list[SecretName] | None = Field(None, max_length=100,
                                             description="Which environment.secrets serving receives; default all.")


# ------------------------------------------------------------------------ monitoring


DriftMethod = Annotated[Literal["psi", "ks", "wasserstein", "chi2", "jensen_shannon"], Choices(
    psi="Population stability index: drift when above the threshold (0.1 moderate, 0.2 large).",
    ks="Kolmogorov-Smirnov test (numbers): drift when the p-value is below the threshold.",
    wasserstein="Wasserstein (earth mover's) distance (numbers): drift when above the threshold.",
    chi2="Chi-squared test (categories): drift when the p-value is below the threshold.",
    jensen_shannon="Jensen-Shannon distance, 0 to 1: drift when above the threshold.")]


AlertSeverity = Annotated[Literal["warning", "critical"], Choices(
    warning="Worth a look soon; not urgent.", critical="Needs someone now (pages on-call where routed).")]


class DriftCheck(Model):
    """Data drift between reference and current for some columns."""

    columns: list[ColumnName] = Field(min_length=1, max_length=500, description="Columns to compare.")
    method: DriftMethod = Field(description="psi, ks, wasserstein, chi2 or jensen_shannon.")
    threshold: Finite = Field(gt=0, description="Drift when the statistic exceeds it; for tests (ks, chi2) "
                              "drift when the p-value falls below it.")
    severity: AlertSeverity = Field("warning", description="Alert severity.")


class Performance(Model):
    """Concept drift: live model quality against ground truth."""

    metric: MetricName = Field(description="Metric computed on labelled live data.")
    min: Finite | None = Field(None, description="Alert below this value.")
    max: Finite | None = Field(None, description="Alert above this value.")
    labels: DataReference | None = Field(None, description="A data source with ground truth.")
    window: Duration = Field("7d", description="How far back to compute the metric.")
    run: Command | None = Field(None, description="Command that computes the live metric into `metrics` "
                                "(e.g. joining predictions with labels); interpolations as in steps.")
    metrics: RelPath = Field("metrics/live.json", description='Flat JSON {"name": number} with the live metric.')
    severity: AlertSeverity = Field("critical", description="Alert severity.")




def _bound_needs_min_or_max(schema: dict[str, Any]) -> None:
    _allow_extensions(schema)
    # MS301 in the compiler; said in the schema too so editors flag it while typing.
    schema["anyOf"] = [{"required": ["min"]}, {"required": ["max"]}]


class CheckBound(Model):
    """One metric of a custom check's metrics JSON and the range it must stay in."""

    model_config = ConfigDict(json_schema_extra=_bound_needs_min_or_max)

    metric: MetricName = Field(description="Key in the check's metrics JSON; a dotted name ('psi.score') reads "
                               "nested JSON ({\"psi\": {\"score\": 0.1}}) unless a flat key of that name exists.")
    min: Finite | None = Field(None, description="A finding below this value.")
    max: Finite | None = Field(None, description="A finding above this value.")
    description: ShortText | None = Field(None, description="What leaving the range means (shown in the alert).")


CheckEvent = Annotated[Literal["custom_check", "data_drift", "concept_drift", "pipeline_drift"], Choices(
    custom_check="Its own event: routed and retrained on as `custom_check`.",
    data_drift="Counts as data drift (e.g. prediction drift, a feature's missing share).",
    concept_drift="Counts as concept drift (e.g. a proxy for live quality).",
    pipeline_drift="Counts as pipeline drift (e.g. a contract the column schema cannot express).")]


class CustomCheck(Model):
    """A team's own monitoring check: a command writes a metrics JSON, mlspec judges it against bounds."""

    name: Name = Field(description="Check name; its monitoring node is `monitor.check.<name>`, its series carry "
                       "`check=\"<name>\"`.")
    description: ShortText | None = Field(None, description="What the check measures (shown on the dashboard).")
    run: Command = Field(description="Command that computes the metrics into `metrics`; interpolations as in steps "
                         "(`${data.NAME.uri}`, `${registry.production.model}` for the deployed model).")
    metrics: RelPath | None = Field(None, description="JSON the command writes (numbers, nested objects allowed); "
                                    "default `metrics/checks/<name>.json`.")
    bounds: list[CheckBound] = Field(min_length=1, max_length=50,
                                     description="Metrics judged after each run; any one out of range is a finding.")
    event: CheckEvent = Field("custom_check", description="The event a finding raises, for `monitoring.alerts[].on` "
                              "and `retraining.on`.")
    severity: AlertSeverity = Field("warning", description="Alert severity.")

    @property
    def metrics_file(self) -> str:
        return self.metrics or f"metrics/checks/{self.name}.json"


# Editors show each event's meaning from the one event table.
_EVENT_DOCS = Choices(**{e.name: e.description[:1].upper() + e.description[1:] + "." for e in EVENTS})


AlertChannel = Annotated[Literal["slack", "email", "pagerduty", "webhook"], Choices(
    slack="A Slack channel, e.g. '#ml-alerts'.", email="An e-mail address.",
    pagerduty="A PagerDuty service: the name of the secret holding its routing key.",
    webhook="An HTTP(S) endpoint that receives Alertmanager's JSON.")]


class Alert(Model):
    """Where alerts go."""

    channel: AlertChannel = Field(description="slack, email, pagerduty or webhook.")
    to: ShortText = Field(description="Channel, address, service key name or URL.")
    on: list[Annotated[AlertEvent, _EVENT_DOCS]] = Field(default_factory=lambda: list(get_args(AlertEvent)), max_length=8,
                                 description="Events routed here; default all.")
    severity: AlertSeverity = Field("warning", description="Lowest severity routed here.")


class Monitoring(Model):
    """Drift, performance, schema checks and alerts."""

    schedule: Schedule = Field("@hourly", description="How often monitoring runs.")
    reference: DataReference | None = Field(None, description="Distribution the model was trained on.")
    current: DataReference | None = Field(None, description="What production sees now.")
    drift: list[DriftCheck] = Field(default_factory=list, max_length=100, description="Data drift checks.")
    performance: Performance | None = Field(None, description="Concept drift check.")
    schema_checks: bool = Field(False, description="Apply the current source's schema contract (pipeline drift).")
    pushgateway: HttpUrl | None = Field(
        None, description="Prometheus Pushgateway the runtime commands and every pipeline run push their "
                          "metrics to ($MLSPEC_PUSHGATEWAY overrides it at run time).")
    textfile_dir: RelPath | None = Field(
        None, description="Folder of node_exporter's textfile collector: runtime commands also write their "
                          "metrics there as <project>_<command>.prom (for hosts without a Pushgateway).")
    checks: list[CustomCheck] = Field(default_factory=list, max_length=50,
                                      description="The team's own checks (prediction drift, missing values, ...): "
                                                  "a command writes metrics, bounds judge them like the built-in "
                                                  "checks (metrics, alerts, dashboard, retrain trigger).")
    alerts: list[Alert] = Field(default_factory=list, max_length=50, description="Alert routing.")


# ------------------------------------------------------------------------ retraining and governance




class Retraining(Model):
    """When a new model is trained automatically."""

    schedule: Schedule | None = Field(None, description="Regular retraining.")
    on: list[Annotated[RetrainEvent, _EVENT_DOCS]] = Field(default_factory=list, max_length=5,
                                                          description="Events that trigger a retrain.")
    cooldown: Duration = Field("24h", description="At most one triggered retrain per cooldown.")
    scheduler: Annotated[Literal["airflow", "github_actions"], Choices(
        airflow="The Airflow pipeline DAG carries the cron; the GitHub train workflow is manual/event only.",
        github_actions="The GitHub train workflow's `schedule:` carries the cron; the DAG has no schedule.",
    )] | None = Field(
        None, description="The one target whose scheduler runs `schedule`; the other keeps only its manual "
                          "and event triggers, so the project never trains twice on one tick. Default: "
                          "airflow when its target is enabled, else github_actions.")


RiskLevel = Annotated[Literal["low", "medium", "high"], Choices(
    low="Little harm if the model errs.", medium="The default.",
    high="Errors hurt people or money: base images pinned by digest, approvals expected.")]


class Governance(Model):
    """Risk, approvals and reproducibility rules."""

    risk_level: RiskLevel = Field("medium", description="low, medium or high.")
    model_card: bool = Field(True, description="Emit a model card built from the spec.")
    approvers: list[Handle] = Field(default_factory=list, max_length=50, description="Who signs off releases.")
    require_pinned_data: bool = Field(
        False, description="Every source training or validation needs has a `version` that identifies its content "
                           "(`sha256:<hex>`, `dvc:<md5 or commit>`, `lakefs:<commit>`, `s3-version:<id>`), checked "
                           "when the data is read.")
    audit_retention_days: int = Field(
        365, ge=1, le=36500,
        description="How long registered versions and their audit records are kept: `mlspec registry prune` "
                    "never removes anything younger.")
    intended_use: Text | None = Field(
        None, description="What the model is for and who uses it (the model card's Intended use); "
                          "warned about when missing at `risk_level: high`.")
    limitations: Text | None = Field(
        None, description="Known limitations: populations, conditions or inputs where it performs worse "
                          "(the model card's Limitations); warned about when missing at `risk_level: high`.")
    ethical_considerations: Text | None = Field(
        None, description="Risks to people, fairness and privacy considerations (the model card's Ethical "
                          "considerations); warned about when missing at `risk_level: high`.")
    out_of_scope_uses: list[ShortText] = Field(
        default_factory=list, max_length=50,
        description="Uses the model must not be put to (the model card's Out-of-scope uses); warned about when "
                    "missing at `risk_level: high`.")


# ------------------------------------------------------------------------ llm


class LlmModel(Model):
    """The hosted model."""

    provider: Name = Field(description="Provider, e.g. 'anthropic'.")
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$")] = Field(
        description="Model name.")
    version: Version | None = Field(None, description="Pinned model version.")


class Prompt(Model):
    """A prompt file."""

    file: RelPath = Field(description="Prompt text, relative to the spec.")
    description: ShortText | None = Field(None, description="What the prompt is for.")


Scorer = Annotated[Literal["exact_match", "contains", "regex", "json_schema", "rubric", "llm_judge", "human"], Choices(
    exact_match="The output equals the expected answer (surrounding whitespace ignored; `ignore_case` to ignore case).",
    contains="The output contains the expected answer (a string, or every string of a list).",
    regex="The output matches `pattern` (Python syntax, searched anywhere in the output).",
    json_schema="The output is JSON valid against the JSON Schema file `schema`.",
    rubric="The judge (`llm.judge`) scores each output against the `rubric` file.",
    llm_judge="The judge (`llm.judge`) compares each output with the expected answer, guided by the `rubric` file.",
    human="People give the verdicts in a review file (`.mlspec/reviews/<eval>.jsonl`).")]


JudgeProvider = Annotated[Literal["openai_compatible", "local"], Choices(
    openai_compatible="An OpenAI-compatible `/chat/completions` API at `base_url` (OpenAI, vLLM, llama.cpp, "
                      "LiteLLM, Ollama, …); the key is read from the secret `api_key_secret`.",
    local="A deterministic stand-in in the project's own code: `entrypoint` (`module:function`) receives the "
          "request body a chat API would and returns its reply body; for offline runs and tests.")]


class Judge(Model):
    """The model that scores `rubric` and `llm_judge` evals."""

    provider: JudgeProvider = Field(description="openai_compatible or local.")
    model: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$")] = Field(
        description="Judge model name, sent as the request's `model`.")
    base_url: HttpUrl | None = Field(None, description="openai_compatible: the API base, e.g. "
                                     "'http://localhost:8000/v1' (the request goes to <base_url>/chat/completions).")
    api_key_secret: SecretName | None = Field(None, description="openai_compatible: the NAME of the environment "
                                              "variable (a secret) holding the API key; never the key itself.")
    entrypoint: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,199}:[A-Za-z_][A-Za-z0-9_]{0,99}$")] | None = Field(
        None, description="local: `module:function` importable from the spec's folder.")
    timeout: Duration = Field("30s", description="Give up on one judge request after this long.")
    max_concurrency: int = Field(4, ge=1, le=64, description="Judge requests in flight at once.")
    retries: int = Field(3, ge=0, le=10, description="Retries of a request that timed out or got HTTP 429 or 5xx "
                         "(exponential backoff, honouring Retry-After).")


class LlmEval(Model):
    """An evaluation of the LLM application: run it, join its outputs with the dataset by `id`, score each case."""

    name: Name = Field(description="Eval name; its pipeline node is `eval.<name>`, its score the gate metric "
                       "`evals.<name>.score`.")
    dataset: DataReference = Field(description="Data source with the eval cases (JSON Lines: one object a line "
                                   "with `id`, `input`, `expected`, …).")
    run: Command | None = Field(None, description="Command that answers the cases into `outputs`; interpolations as "
                                "in steps. Without it the outputs are read as they are.")
    outputs: RelPath = Field(description="JSON Lines the run writes: one object a line with `id`, `output` and "
                             "optionally `input_tokens`, `output_tokens`, `latency_ms`, `cost_usd`.")
    needs: list[Reference] = Field(default_factory=list, max_length=200,
                                   description="What must run first (steps.NAME, training, data.NAME).")
    prompts: list[Name] | None = Field(None, max_length=100, description="The `llm.prompts` this eval exercises: "
                                       "editing one re-runs only the evals that list it; default all prompts.")
    scorer: Scorer = Field(description="exact_match, contains, regex, json_schema, rubric, llm_judge or human.")
    ignore_case: bool = Field(False, description="exact_match and contains: compare case-insensitively.")
    pattern: Annotated[str, Field(min_length=1, max_length=1000)] | None = Field(
        None, description="regex: the pattern (Python `re` syntax).")
    schema_: RelPath | None = Field(None, alias="schema", description="json_schema: a JSON Schema file, relative "
                                    "to the spec.")
    rubric: RelPath | None = Field(None, description="rubric and llm_judge: the rubric file given to the judge.")
    min: Finite | None = Field(None, ge=0, le=1, description="Fail below this score (the share of cases passed, 0–1).")
    max: Finite | None = Field(None, ge=0, le=1, description="Fail above this score (0–1).")
    timeout: Duration | None = Field(None, description="Stop the eval (run and scoring) after this long.")
    description: ShortText | None = Field(None, description="What the eval checks.")


class Budgets(Model):
    """Cost, latency and token budgets: each becomes an alert, and `mlspec eval` fails an eval whose
    outputs exceed one (mean cost per request × 1000, p95 latency, largest tokens per request)."""

    cost_per_1k_requests_usd: Finite | None = Field(None, gt=0, description="Spend per thousand requests.")
    latency_p95_ms: Finite | None = Field(None, gt=0, description="95th percentile latency in milliseconds.")
    max_tokens_per_request: int | None = Field(None, ge=1, le=10_000_000, description="Tokens per request.")


class Llm(Model):
    """Projects built on a hosted model."""

    model: LlmModel = Field(description="The hosted model.")
    judge: Judge | None = Field(None, description="The judge model for `rubric` and `llm_judge` evals.")
    prompts: dict[Name, Prompt] = Field(default_factory=dict, max_length=100, description="Named prompts.")
    evals: list[LlmEval] = Field(default_factory=list, max_length=100, description="Evaluations.")
    budgets: Budgets = Field(default_factory=Budgets, description="Budgets.")


# ------------------------------------------------------------------------ top level


class Spec(Model):
    """An `mlproject.yaml`: one ML project across its lifecycle."""

    mlspec: Annotated[Literal[1], Choices(**{"1": "Version 1 of the language."})] = Field(
        description="Language version: the integer 1.")
    project: Project = Field(description="Identity and ownership.")
    environment: Environment = Field(default_factory=Environment, description="How code runs.")
    params_file: RelPath | None = Field(
        None, description="A YAML file of parameters beside the spec (as DVC's params.yaml): scalars, lists and "
                          "nested mappings, addressed as ${params.train.n_est}; `params` add to it.")
    params: dict[Name, ParamValue] = Field(default_factory=dict, max_length=500,
                                           description="Named parameters, interpolated as ${params.NAME} "
                                                       "(${params.NAME.KEY} for nested values).")
    data: dict[Name, DataSource] = Field(default_factory=dict, max_length=500, description="Named data sources.")
    steps: dict[Name, Step] = Field(default_factory=dict, max_length=5000, description="Custom pipeline steps.")
    training: Training | None = Field(None, description="The training step and its outputs.")
    validation: Validation | None = Field(None, description="Evaluation and gates.")
    registry: Registry | None = Field(None, description="Where approved models are versioned.")
    storage: Storage | None = Field(None, description="The artifact store that keeps node outputs between "
                                                      "machines and runs; default the local folder '.mlspec/store'.")
    serving: Serving | None = Field(None, description="Online API or batch scoring.")
    monitoring: Monitoring | None = Field(None, description="Drift, performance, schema checks, alerts.")
    retraining: Retraining | None = Field(None, description="Automatic retraining.")
    governance: Governance = Field(default_factory=Governance, description="Risk, approvals, pinning rules.")
    llm: Llm | None = Field(None, description="Hosted-model projects: prompts, evals, budgets.")
    targets: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Which artifacts to emit and their options; every target is on by default.")
