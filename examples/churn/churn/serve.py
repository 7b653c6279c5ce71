"""The online API: ``POST /predict``, ``GET /healthz`` and Prometheus ``GET /metrics``.

Standard library only (``http.server``), so the example needs no web framework; the metric
names match ``serving.metrics`` in ``mlproject.yaml`` (the defaults).

    curl -s localhost:8080/predict -d '{"tenure_months": 3, "monthly_charges": 90, "contract": "monthly"}'
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import joblib

from churn import CONTRACTS
from churn.data import features

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    """A request counter by status and a latency histogram, in Prometheus text format."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0

    def observe(self, status: int, seconds: float) -> None:
        with self.lock:
            self.requests[str(status)] = self.requests.get(str(status), 0) + 1
            self.count += 1
            self.total += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1

    def render(self) -> str:
        with self.lock:
            lines = ["# TYPE http_requests_total counter"]
            lines += [f'http_requests_total{{status="{s}"}} {n}' for s, n in sorted(self.requests.items())]
            lines.append("# TYPE http_request_duration_seconds histogram")
            lines += [f'http_request_duration_seconds_bucket{{le="{b}"}} {n}' for b, n in zip(BUCKETS, self.buckets)]
            lines.append(f'http_request_duration_seconds_bucket{{le="+Inf"}} {self.count}')
            lines.append(f"http_request_duration_seconds_sum {self.total}")
            lines.append(f"http_request_duration_seconds_count {self.count}")
        return "\n".join(lines) + "\n"


def make_handler(model, metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, '{"status": "ok"}')
            elif self.path == "/metrics":
                self._send(200, metrics.render(), "text/plain; version=0.0.4")
            else:
                self._send(404, '{"error": "not found"}')

        def do_POST(self) -> None:
            start = time.perf_counter()
            status, body = 404, '{"error": "not found"}'
            if self.path == "/predict":
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    row = json.loads(self.rfile.read(min(length, 65536)) or b"{}")
                    if row.get("contract") not in CONTRACTS:
                        raise ValueError(f"contract must be one of {CONTRACTS}")
                    proba = float(model.predict_proba(features([row]))[0, 1])
                    status, body = 200, json.dumps({"churn_probability": round(proba, 6)})
                except (ValueError, KeyError, TypeError, AttributeError) as exc:
                    status, body = 400, json.dumps({"error": str(exc)})
            self._send(status, body)
            metrics.observe(status, time.perf_counter() - start)

        def log_message(self, fmt: str, *args) -> None:
            pass  # keep the request log out of stderr; /metrics has the numbers

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=8080)
    args = ap.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), make_handler(joblib.load(args.model), Metrics()))
    print(f"serving {args.model} on http://{args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
