"""Real Prometheus + Pushgateway + Alertmanager on loopback, and a webhook that records notifications.

Debian's ``prometheus``, ``prometheus-pushgateway`` and ``prometheus-alertmanager`` (installed by
``tools/setup.sh``). Fixtures:

- ``prom_stack`` (function): a factory. ``prom_stack(rule_files=[...], alertmanager_config=...,
  scrape_configs=[...])`` starts a Pushgateway, an Alertmanager and a Prometheus that scrapes the
  Pushgateway every second (``honor_labels: true``), evaluates the rules every second and sends
  alerts to the Alertmanager, whose receivers all deliver to an in-process :class:`WebhookReceiver`.
  Returns a :class:`PromStack`; everything stops when the test ends. Each test gets its own
  stack, so pushed groups, series and alerts never leak between tests (about 1-2 s per stack).
- ``webhook_receiver`` (function): a :class:`WebhookReceiver` on its own, e.g. to build an
  Alertmanager config that names its URL before calling ``prom_stack(..., webhook=...)``.
- ``pushgateway_server`` (session) / ``pushgateway`` (function): a lone Pushgateway shared by the
  session; ``pushgateway`` wipes it before the test, so each test starts with no groups.

Alertmanager configs: a test passes the config under test (e.g. one mlspec generated) and
:func:`route_to_webhook` rewrites it -- routing tree, matchers, grouping, inhibitions untouched;
every integration of every receiver (slack, email, pagerduty, webhook, ...) replaced by a webhook to
``<receiver url>/<receiver name>/<integration>`` keeping that integration's ``send_resolved``
(explicit, or Alertmanager's default for it); route timers shortened (group_wait 0s,
group_interval 1s) so notifications arrive within seconds. ``route_to_webhook=False`` uses a
config as is (its receivers must already post to ``stack.webhook.url``).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests.servers._process import (
    LIVE, LOOPBACK, ServerError, ServerProcess, http, http_json, http_ok, start_server, wait_for,
)

T = TypeVar("T")
PathLike = str | os.PathLike[str]

# Alertmanager's default `send_resolved` per integration (its configuration docs); a rewritten
# receiver keeps the original's behaviour, so a test can tell "slack never sends resolved".
SEND_RESOLVED_DEFAULT = {
    "email_configs": False, "slack_configs": False, "wechat_configs": False,
    "pagerduty_configs": True, "opsgenie_configs": True, "pushover_configs": True,
    "victorops_configs": True, "sns_configs": True, "telegram_configs": True, "discord_configs": True,
    "webex_configs": True, "msteams_configs": True, "webhook_configs": True,
}
FAST_ROUTE = {"group_wait": "0s", "group_interval": "1s"}


# ------------------------------------------------------------------ the recording webhook
@dataclass(frozen=True)
class ReceivedAlert:
    """One alert of one notification the webhook received."""

    receiver: str      # the Alertmanager receiver that sent it
    integration: str   # "slack", "email", ... (which config of the receiver; "webhook" if unknown)
    status: str        # "firing" or "resolved" (this alert's, not the notification's)
    labels: dict[str, str]
    annotations: dict[str, str]
    notification: dict[str, Any] = field(repr=False)  # the whole JSON body


class WebhookReceiver:
    """A threaded HTTP server in the test process on 127.0.0.1 that records every JSON POST."""

    name = "webhook"

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._posts: list[tuple[str, Any]] = []  # (path, parsed JSON or the raw text)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 -- http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode(errors="replace")
                try:
                    payload: Any = json.loads(body)
                except ValueError:
                    payload = body
                with receiver._lock:
                    receiver._posts.append((self.path, payload))
                    receiver._lock.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 -- quiet
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook", daemon=True)
        self._thread.start()
        LIVE.append(self)

    @property
    def posts(self) -> list[tuple[str, Any]]:
        """Every POST so far: (path, JSON body)."""
        with self._lock:
            return list(self._posts)

    def received(self, alertname: str | None = None, status: str | None = None,
                 receiver: str | None = None) -> list[ReceivedAlert]:
        """Every alert received so far (in order), filtered."""
        out = []
        for path, payload in self.posts:
            if not isinstance(payload, dict):
                continue
            parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
            integration = parts[1] if len(parts) > 1 else "webhook"
            for alert in payload.get("alerts") or []:
                got = ReceivedAlert(str(payload.get("receiver", "")), integration, str(alert.get("status", "")),
                                    dict(alert.get("labels") or {}), dict(alert.get("annotations") or {}), payload)
                if ((alertname is None or got.labels.get("alertname") == alertname)
                        and (status is None or got.status == status)
                        and (receiver is None or got.receiver == receiver)):
                    out.append(got)
        return out

    def wait_for_alert(self, alertname: str, status: str = "firing", timeout: float = 15,
                       receiver: str | None = None, labels: Mapping[str, str] | None = None) -> ReceivedAlert:
        """The first alert named ``alertname`` with this status (and receiver, labels) to arrive."""
        def match() -> ReceivedAlert | None:
            for got in self.received(alertname, status, receiver):
                if all(got.labels.get(k) == v for k, v in (labels or {}).items()):
                    return got
            return None

        deadline = time.monotonic() + timeout
        with self._lock:
            while (found := match()) is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(a.receiver, a.labels.get("alertname"), a.status) for a in self.received()]
                    raise TimeoutError(f"no {status} alert {alertname!r} (receiver={receiver}, labels={labels}) "
                                       f"reached the webhook within {timeout:g} s; received: {seen or 'nothing'}")
                self._lock.wait(remaining)  # woken by each POST; the Condition's lock is re-entrant
        return found

    def clear(self) -> None:
        with self._lock:
            self._posts.clear()

    def stop(self, timeout: float = 5) -> None:
        if self in LIVE:
            LIVE.remove(self)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)

    # failure report (plugin.py)
    def mark(self) -> int:
        return len(self.posts)

    def report_since(self, mark: int) -> str:
        return "\n".join(f"POST {path} {json.dumps(body)[:2000]}" for path, body in self.posts[mark:])


# ------------------------------------------------------------------ Alertmanager config rewriting
def route_to_webhook(config: Mapping[str, Any], webhook_url: str, *, fast: bool = True) -> dict[str, Any]:
    """``config`` with every receiver's integrations replaced by webhooks to ``webhook_url``.

    Each integration config becomes ``{url: <webhook_url>/<receiver>/<kind>, send_resolved: ...}``
    (kind = "slack", "email", ...), keeping its ``send_resolved`` or Alertmanager's default for
    that kind; a receiver with no integration stays a black hole, as in production. ``global``
    keeps only ``resolve_timeout`` (API URLs, SMTP, credentials files concern the replaced
    integrations). ``fast`` shortens group_wait/group_interval on every route that sets them.
    """
    out = copy.deepcopy(dict(config))
    receivers = []
    for receiver in out.get("receivers") or []:
        name = str(receiver["name"])
        hooks = []
        for key in [k for k in receiver if k.endswith("_configs")]:
            kind = key.removesuffix("_configs")
            for item in receiver.pop(key) or []:
                resolved = item.get("send_resolved", SEND_RESOLVED_DEFAULT.get(key, True))
                url = f"{webhook_url}/{urllib.parse.quote(name, safe='')}/{kind}"
                hooks.append({"url": url, "send_resolved": bool(resolved)})
        if hooks:
            receiver["webhook_configs"] = hooks
        receivers.append(receiver)
    out["receivers"] = receivers
    out["global"] = {k: v for k, v in (out.get("global") or {}).items() if k == "resolve_timeout"}
    out.pop("templates", None)  # only the replaced integrations render templates
    if fast:
        _fast_routes(out.setdefault("route", {}), root=True)
    return out


def _fast_routes(route: dict[str, Any], root: bool) -> None:
    for key, value in FAST_ROUTE.items():
        if root or key in route:
            route[key] = value
    for child in route.get("routes") or []:
        _fast_routes(child, root=False)


def default_alertmanager_config(webhook_url: str) -> dict[str, Any]:
    """One receiver ("webhook"), each alert its own group, notifications within about a second."""
    return {
        "route": {"receiver": "webhook", "group_by": ["..."], **FAST_ROUTE, "repeat_interval": "1h"},
        "receivers": [{"name": "webhook",
                       "webhook_configs": [{"url": f"{webhook_url}/webhook/webhook", "send_resolved": True}]}],
    }


def without_for(rules: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    """A rule file (dict, YAML text or path) with every alert's ``for``/``keep_firing_for`` removed.

    Generated rules wait minutes before firing (``for: 5m``); an end-to-end test that checks
    routing and labels passes ``prom_stack(rules=without_for(path))`` to have them fire on the
    first evaluation. (Timing itself is what the promtool unit tests check.)
    """
    out = copy.deepcopy(_load_config(rules))
    for group in out.get("groups") or []:
        for rule in group.get("rules") or []:
            rule.pop("for", None)
            rule.pop("keep_firing_for", None)
    return out


def _load_config(config: Mapping[str, Any] | str | os.PathLike[str]) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    text = Path(config).read_text(encoding="utf-8") if isinstance(config, os.PathLike) else config
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise ValueError(f"expected a YAML mapping, got {type(loaded).__name__}")
    return loaded


# ------------------------------------------------------------------ Pushgateway helpers
def group_path(job: str, grouping: Mapping[str, str] | None = None) -> str:
    """``/metrics/job/<job>/<label>/<value>...``; values with "/" or empty ones base64-encoded."""
    def seg(label: str, value: str) -> str:
        if value == "" or "/" in value:
            return f"{label}@base64/{base64.urlsafe_b64encode(value.encode()).decode() or '='}"
        return f"{label}/{urllib.parse.quote(value, safe='')}"

    return "/metrics/" + "/".join(seg(k, str(v)) for k, v in [("job", job), *(grouping or {}).items()])


@dataclass(frozen=True)
class Pushgateway:
    url: str
    process: ServerProcess

    def push(self, job: str, text: str, grouping: Mapping[str, str] | None = None, *, replace: bool = True) -> None:
        """Push Prometheus text exposition to a group: PUT replaces the group, POST merges by metric name."""
        body = (text if text.endswith("\n") else text + "\n").encode()
        status, answer = http("PUT" if replace else "POST", self.url + group_path(job, grouping), body,
                              {"Content-Type": "text/plain; version=0.0.4"})
        if not 200 <= status < 300:
            raise ServerError(f"push to {job} {dict(grouping or {})}: HTTP {status}: {answer.decode(errors='replace')}")

    def delete(self, job: str, grouping: Mapping[str, str] | None = None) -> None:
        """Delete a group; returns once it is gone (the Pushgateway applies deletions asynchronously)."""
        status, answer = http("DELETE", self.url + group_path(job, grouping))
        if not 200 <= status < 300:
            raise ServerError(f"delete {job} {dict(grouping or {})}: HTTP {status}: {answer.decode(errors='replace')}")
        labels = {"job": job, **{k: str(v) for k, v in (grouping or {}).items()}}
        wait_for(lambda: all(g["labels"] != labels for g in self.groups()), 10, f"group {labels} deleted",
                 interval=0.01)

    def groups(self) -> list[dict[str, Any]]:
        """The pushed groups (``/api/v1/metrics``): labels and metric families of each."""
        return list(http_json("GET", f"{self.url}/api/v1/metrics")["data"])

    def metrics_text(self) -> str:
        """``/metrics`` as Prometheus would scrape it."""
        return http("GET", f"{self.url}/metrics")[1].decode()

    def wipe(self) -> None:
        """Delete every group; returns once they are gone (applied asynchronously, like deletions)."""
        status, answer = http("PUT", f"{self.url}/api/v1/admin/wipe")
        if not 200 <= status < 300:
            raise ServerError(f"wipe: HTTP {status}: {answer.decode(errors='replace')}")
        wait_for(lambda: self.groups() == [], 10, "Pushgateway wiped", interval=0.01)


def _binary(name: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} not found (Debian package {_PACKAGES[name]}; `bash tools/setup.sh` installs it)")
    return exe


_PACKAGES = {"prometheus": "prometheus", "prometheus-pushgateway": "prometheus-pushgateway",
             "prometheus-alertmanager": "prometheus-alertmanager"}


def start_pushgateway(directory: Path) -> Pushgateway:
    exe = _binary("prometheus-pushgateway")
    process, port = start_server(
        "pushgateway",
        lambda port: [exe, f"--web.listen-address={LOOPBACK}:{port}", "--persistence.file=", "--web.enable-admin-api"],
        lambda port: lambda: http_ok(f"http://{LOOPBACK}:{port}/-/ready"),
        directory / "pushgateway.log", cwd=directory)
    return Pushgateway(f"http://{LOOPBACK}:{port}", process)


# ------------------------------------------------------------------ the stack
@dataclass
class PromStack:
    prometheus_url: str
    pushgateway_url: str
    alertmanager_url: str
    webhook: WebhookReceiver
    directory: Path                       # prometheus.yml, alertmanager.yml, data and logs
    alertmanager_config: dict[str, Any]   # as written (after rewriting)
    processes: list[ServerProcess]
    pushgateway: Pushgateway

    def push(self, job: str, text: str, grouping: Mapping[str, str] | None = None, *, replace: bool = True) -> None:
        self.pushgateway.push(job, text, grouping, replace=replace)

    def delete(self, job: str, grouping: Mapping[str, str] | None = None) -> None:
        self.pushgateway.delete(job, grouping)

    def query(self, promql: str) -> list[Any]:
        """An instant query's result: a vector's samples ``{"metric": ..., "value": [t, "v"]}`` (a scalar
        or string result as a one-element list)."""
        data = self._api("query?" + urllib.parse.urlencode({"query": promql}))
        result = data["result"]
        return result if data["resultType"] in ("vector", "matrix") else [result]

    def value(self, promql: str) -> float | None:
        """The value of a query with one sample (None when it has none)."""
        result = self.query(promql)
        if len(result) > 1:
            raise AssertionError(f"{promql} has {len(result)} samples: {result}")
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, predicate: Callable[[], T], timeout: float = 15, what: str = "condition") -> T:
        """Poll ``predicate`` (exceptions = not yet) until truthy; fail the test when the stack died."""
        return wait_for(predicate, timeout, what, check=self.check_alive)

    def alerts(self, state: str | None = None) -> list[dict[str, Any]]:
        """Prometheus' active alerts (``/api/v1/alerts``), optionally only "pending" or "firing"."""
        alerts = self._api("alerts")["alerts"]
        return [a for a in alerts if state is None or a.get("state") == state]

    def rules(self) -> list[dict[str, Any]]:
        """Prometheus' rule groups as loaded (``/api/v1/rules``)."""
        return list(self._api("rules")["groups"])

    def wait_for_alert(self, alertname: str, status: str = "firing", timeout: float = 15,
                       receiver: str | None = None, labels: Mapping[str, str] | None = None) -> ReceivedAlert:
        """The first notification of ``alertname`` with ``status`` that reached the webhook."""
        return self.webhook.wait_for_alert(alertname, status, timeout, receiver, labels)

    @staticmethod
    def unique_group(prefix: str = "test") -> dict[str, str]:
        """A grouping key no other push used (``{"instance": "<prefix>-<random>"}``)."""
        return {"instance": f"{prefix}-{uuid.uuid4().hex[:12]}"}

    def check_alive(self) -> None:
        for process in self.processes:
            process.check_alive()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def _api(self, path: str) -> Any:
        answer = http_json("GET", f"{self.prometheus_url}/api/v1/{path}")
        if answer.get("status") != "success":
            raise ServerError(f"Prometheus /api/v1/{path}: {answer}")
        return answer["data"]


StackFactory = Callable[..., PromStack]


def start_stack(directory: Path, *, rule_files: Iterable[PathLike] = (), rules: Mapping[str, Any] | str | None = None,
                alertmanager_config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
                rewrite: bool = True, scrape_configs: Iterable[Mapping[str, Any]] = (),
                webhook: WebhookReceiver | None = None, interval: str = "1s") -> PromStack:
    prometheus, alertmanager = _binary("prometheus"), _binary("prometheus-alertmanager")
    directory.mkdir(parents=True, exist_ok=True)
    own_webhook = webhook is None
    webhook = webhook or WebhookReceiver()
    started: list[ServerProcess] = []
    try:
        pushgateway = start_pushgateway(directory)
        started.append(pushgateway.process)

        if alertmanager_config is None:
            am_config = default_alertmanager_config(webhook.url)
        else:
            am_config = _load_config(alertmanager_config)
            if rewrite:
                am_config = route_to_webhook(am_config, webhook.url)
        (directory / "alertmanager.yml").write_text(yaml.safe_dump(am_config, sort_keys=False), encoding="utf-8")
        am, am_port = start_server(
            "alertmanager",
            lambda port: [alertmanager, f"--config.file={directory / 'alertmanager.yml'}",
                          f"--storage.path={directory / 'alertmanager-data'}",
                          f"--web.listen-address={LOOPBACK}:{port}",
                          "--cluster.listen-address=",  # no gossip: a lone Alertmanager opens no other port
                          "--log.level=debug"],      # logs each notification it sends, for failure reports
            lambda port: lambda: http_ok(f"http://{LOOPBACK}:{port}/-/ready"),
            directory / "alertmanager.log", cwd=directory)
        started.append(am)

        files = [str(Path(f).resolve()) for f in rule_files]
        if rules is not None:
            inline = directory / "inline.rules.yml"
            inline.write_text(rules if isinstance(rules, str) else yaml.safe_dump(dict(rules), sort_keys=False),
                              encoding="utf-8")
            files.append(str(inline))

        def write_prometheus_yml(port: int) -> Path:  # rewritten per attempt: it is the only config
            path = directory / "prometheus.yml"
            path.write_text(yaml.safe_dump({
                "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
                "rule_files": files,
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"{LOOPBACK}:{am_port}"]}]}]},
                "scrape_configs": [
                    {"job_name": "pushgateway", "honor_labels": True,
                     "static_configs": [{"targets": [pushgateway.url.removeprefix("http://")]}]},
                    *[dict(s) for s in scrape_configs],
                ],
            }, sort_keys=False), encoding="utf-8")
            return path

        # Prometheus hands discovered targets (the Pushgateway to scrape, the Alertmanager to notify)
        # over only every 5 s, so the first scrape and the first delivery come ~5 s after start.
        # We do not wait for that here (the test can do its own slow work meanwhile); instead an
        # alert that fired before the Alertmanager was known is re-sent every second (resend-delay).
        prom, prom_port = start_server(
            "prometheus",
            lambda port: [prometheus, f"--config.file={write_prometheus_yml(port)}",
                          f"--storage.tsdb.path={directory / 'prometheus-data'}",
                          f"--web.listen-address={LOOPBACK}:{port}", "--web.enable-lifecycle",
                          "--rules.alert.resend-delay=1s"],
            lambda port: lambda: http_ok(f"http://{LOOPBACK}:{port}/-/ready"),
            directory / "prometheus.log", cwd=directory)
        started.append(prom)
    except BaseException:
        for process in reversed(started):
            process.stop()
        if own_webhook:
            webhook.stop()
        raise
    return PromStack(f"http://{LOOPBACK}:{prom_port}", pushgateway.url, f"http://{LOOPBACK}:{am_port}", webhook,
                     directory, am_config, started, pushgateway)


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture
def prom_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFactory]:
    stacks: list[tuple[PromStack, bool]] = []

    def make(*, rule_files: Iterable[PathLike] = (), rules: Mapping[str, Any] | str | None = None,
             alertmanager_config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
             route_to_webhook: bool = True, scrape_configs: Iterable[Mapping[str, Any]] = (),
             webhook: WebhookReceiver | None = None, interval: str = "1s") -> PromStack:
        stack = start_stack(tmp_path_factory.mktemp("prom"), rule_files=rule_files, rules=rules,
                            alertmanager_config=alertmanager_config, rewrite=route_to_webhook,
                            scrape_configs=scrape_configs, webhook=webhook, interval=interval)
        stacks.append((stack, webhook is None))
        return stack

    try:
        yield make
    finally:
        for stack, own_webhook in reversed(stacks):
            stack.stop()
            if own_webhook:
                stack.webhook.stop()


@pytest.fixture(scope="session")
def pushgateway_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pushgateway]:
    gateway = start_pushgateway(tmp_path_factory.mktemp("pushgateway"))
    try:
        yield gateway
    finally:
        gateway.process.stop()


@pytest.fixture
def pushgateway(pushgateway_server: Pushgateway) -> Pushgateway:
    pushgateway_server.wipe()
    return pushgateway_server
