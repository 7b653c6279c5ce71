"""The scrape config (``monitoring/prometheus/<project>.scrape.yml``) that makes the rules'
selectors match what Prometheus stores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlspec.compiler.plan import Plan
from mlspec.targets.toolkit.promql import serving_labels

if TYPE_CHECKING:
    from mlspec.targets.prometheus import PrometheusOptions


def scrape_path(project: str) -> str:
    return f"monitoring/prometheus/{project}.scrape.yml"


def scrape_document(plan: Plan, options: PrometheusOptions) -> dict[str, Any] | None:
    """``scrape_configs`` that make the rules' selectors match: the Pushgateway job keeps the
    pushed ``project``/``node``/``check`` labels (``honor_labels``), and the server's targets get
    the labels of ``serving.metrics.labels`` (the rules and the dashboard select by them)."""
    from urllib.parse import urlsplit

    jobs: list[dict[str, Any]] = []
    mon = plan.monitoring
    if mon is not None and mon.pushgateway:
        url = urlsplit(mon.pushgateway)
        job: dict[str, Any] = {"job_name": f"{plan.project.name}-pushgateway", "honor_labels": True}
        if url.scheme == "https":
            job["scheme"] = "https"
        if url.path.rstrip("/"):
            job["metrics_path"] = url.path.rstrip("/") + "/metrics"
        port = url.port or (443 if url.scheme == "https" else 80)
        job["static_configs"] = [{"targets": [f"{url.hostname}:{port}"]}]
        jobs.append(job)
    sv = plan.serving
    if sv is not None and sv.mode == "online" and sv.port:
        labels = dict(serving_labels(sv, options.serving_labels))
        jobs.append({"job_name": f"{plan.project.name}-serving", "metrics_path": sv.metrics_path,
                     "static_configs": [{"targets": [options.serving_target or f"{plan.project.name}:{sv.port}"],
                                         "labels": labels}]})
    return {"scrape_configs": jobs} if jobs else None


