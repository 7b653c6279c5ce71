"""The `prometheus` target: alerting and recording rules, their promtool unit tests, a
runbook, a scrape config and an Alertmanager routing config.

Emitted, per project (``<p>`` = ``project.name``), one module per artifact:

* ``monitoring/prometheus/<p>.rules.yml`` (:mod:`.rules`) — alerts for data drift, concept
  drift, data freshness, schema violations, pipeline failures, serving SLOs and LLM budgets,
  plus the recording rules the SLO and budget alerts read.
* ``monitoring/prometheus/<p>.rules.test.yml`` (:mod:`.rule_tests`) — ``promtool test rules``
  cases generated from the same thresholds: for every alert, series that fire it (exact
  labels and annotations after ``for:``, and still pending before) and series that keep it quiet.
* ``monitoring/prometheus/<p>.runbook.md`` (:mod:`.runbook`) — what each alert means and what
  to do; every alert's ``runbook_url`` points at its section.
* ``monitoring/prometheus/<p>.scrape.yml`` (:mod:`.scrape`) — scrape configs that make the
  rules' selectors match.
* ``monitoring/alertmanager/<p>.yml`` (:mod:`.alertmanager`) — routes per
  ``monitoring.alerts`` entry (channel, events, lowest severity), when there are any.
  Secrets come from files only.

:mod:`.model` holds the alerts, records and their test probes the first three are made from;
:mod:`.go_templates` the Go-template encoding of user text.

Every rule and test is built as Python data and dumped with :func:`yaml_dump`. PromQL is
built by :mod:`mlspec.targets.toolkit.promql` (shared with the grafana target): label values
go through :func:`promql_string`, metric and label names through :func:`promql_name`.
Prometheus executes annotations and labels (and Alertmanager its notifier fields) as Go
templates: user text never sits next to template actions, and any user text holding a brace
is emitted as a Go string constant (``{{ "..." }}``), which prints it verbatim. Series values
(column names, sources) reach annotations only through ``{{ $labels.x }}``, which prints data
and never executes it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

from mlspec import diagnostics as dx
from mlspec.compiler.plan import Plan
from mlspec.diagnostics import Diagnostic, Severity
from mlspec.output.artifacts import Artifact
from mlspec.targets import Target, TargetOptions
from mlspec.targets.toolkit.promql import name as promql_name

# The modules that build the artifacts load when the target emits (or when one of these names
# is imported from here): `mlspec validate` only needs the options and `check`.
_LAZY = {
    "SEVERITIES": "alertmanager", "alertmanager_document": "alertmanager", "alertmanager_path": "alertmanager",
    "tests_document": "rule_tests", "tests_path": "rule_tests",
    "build_rules": "rules", "rules_document": "rules", "rules_path": "rules",
    "runbook_markdown": "runbook", "runbook_path": "runbook",
    "scrape_document": "scrape", "scrape_path": "scrape",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "SEVERITIES", "PrometheusOptions", "PrometheusTarget", "alertmanager_document", "alertmanager_path",
    "rules_document", "rules_path", "runbook_markdown", "runbook_path", "scrape_document", "scrape_path",
    "tests_document", "tests_path",
]

_LabelName = Annotated[str, Field(pattern=r"^[a-zA-Z_][a-zA-Z0-9_]{0,99}$")]
_HttpsPrefix = Annotated[str, Field(pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%/#-]*)?$",
                                    max_length=500)]
_AbsDir = Annotated[str, Field(pattern=r"^/[A-Za-z0-9._/-]{0,300}$")]
_HostPort = Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$")]
_Mailbox = Annotated[str, Field(pattern=r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,253}$")]


class PrometheusOptions(TargetOptions):
    """Options of the prometheus target."""

    alertmanager: bool = Field(True, description="Emit an Alertmanager config routing monitoring.alerts.")
    runbook_url: _HttpsPrefix | None = Field(
        None, description="https URL under which the output folder is browsable (e.g. "
        "'https://github.com/example/churn/blob/main/'); alerts link to the generated runbook "
        "there. Default: the runbook's path relative to the output folder.")
    serving_labels: dict[_LabelName, str] | None = Field(
        None, max_length=20, description="Deprecated: set serving.metrics.labels, which the rules and the "
        "dashboard both read. When set, overrides it for the rules only.")
    serving_target: _HostPort | None = Field(
        None, description="host:port Prometheus scrapes the server at, in the generated scrape config "
        "(default: <project>:<serving.port>, the Kubernetes Service name).")
    secrets_dir: _AbsDir = Field(
        "/etc/alertmanager/secrets", description="Folder on the Alertmanager host holding the "
        "secret files (Slack webhook URL, PagerDuty routing keys, SMTP password).")
    smtp_smarthost: _HostPort = Field("localhost:25", description="SMTP server for email alerts.")
    smtp_from: _Mailbox = Field("alertmanager@localhost", description="Sender of email alerts.")
    smtp_auth_username: Annotated[str, Field(pattern=r"^[A-Za-z0-9._%+@-]{1,200}$")] | None = Field(
        None, description="SMTP user; its password is read from <secrets_dir>/smtp_password.")


# ============================================================================ the target

class PrometheusTarget(Target):
    name = "prometheus"
    description = "Prometheus alerting and recording rules with promtool unit tests, a runbook and Alertmanager routes."
    options_model = PrometheusOptions

    def check(self, plan: Plan) -> list[Diagnostic]:
        diags: list[Diagnostic] = []
        mon = plan.monitoring
        options: PrometheusOptions = self.options
        if options.runbook_url is None and mon is not None and mon.alerts:
            diags.append(Diagnostic(
                dx.RUNBOOK_URL_RELATIVE, "prometheus: alerts link to their runbook by a path relative to the output "
                "folder, which a notification cannot open", severity=Severity.WARNING, path=("monitoring", "alerts"),
                hint="set targets.prometheus.runbook_url to the https URL the repository is browsable under, "
                     "e.g. 'https://github.com/OWNER/REPO/blob/main/'"))
        for i, alert in enumerate(mon.alerts if mon else ()):
            if alert.channel == "webhook" and not re.fullmatch(r"https?://[^\s]+", alert.to):
                diags.append(Diagnostic(
                    dx.TARGET_CANNOT_EXPRESS, f"prometheus: webhook alert target {alert.to!r} is not an http(s) URL",
                    path=("monitoring", "alerts", i, "to"),
                    hint="Alertmanager posts webhook alerts to a URL such as 'https://hooks.example.com/ml'"))
        sv = plan.serving
        if sv and sv.mode == "online" and sv.slo:
            for what in (sv.latency_histogram, sv.requests_total):
                try:
                    promql_name(what)
                except ValueError:
                    diags.append(Diagnostic(dx.TARGET_CANNOT_EXPRESS,
                                            f"prometheus: {what!r} is not a Prometheus metric name",
                                            path=("serving", "metrics")))
        return diags

    def emit(self, plan: Plan) -> list[Artifact]:
        from mlspec.output.encoders import yaml_dump
        from mlspec.targets.prometheus.alertmanager import alertmanager_document, alertmanager_path
        from mlspec.targets.prometheus.rule_tests import tests_document, tests_path
        from mlspec.targets.prometheus.rules import build_rules, rules_document, rules_path
        from mlspec.targets.prometheus.runbook import runbook_markdown, runbook_path
        from mlspec.targets.prometheus.scrape import scrape_document, scrape_path

        options: PrometheusOptions = self.options
        rules = build_rules(plan, options)
        project = plan.project.name
        if not rules.alerts:
            return []
        out = [
            Artifact(rules_path(project), yaml_dump(rules_document(rules, options)), self.name, "prometheus-rules"),
            Artifact(tests_path(project), yaml_dump(tests_document(rules, options)), self.name,
                     "prometheus-rules-test"),
            Artifact(runbook_path(project), runbook_markdown(plan, rules), self.name, "runbook", comment="<!--"),
        ]
        scrape = scrape_document(plan, options)
        if scrape is not None:
            out.append(Artifact(scrape_path(project), yaml_dump(scrape), self.name, "prometheus-scrape-config"))
        if options.alertmanager:
            am = alertmanager_document(plan, options)
            if am is not None:
                out.append(Artifact(alertmanager_path(project), yaml_dump(am), self.name, "alertmanager-config"))
        return out
