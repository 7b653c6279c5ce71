"""Data sources at http(s) URLs, read by the runtime checks from a real HTTP server on loopback:
the contract is checked on the downloaded file, a sha256 pin is enforced, freshness is the
server's Last-Modified, plain http to another machine is refused, the size bound holds."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

CSV = ("customer_id,tenure_months,monthly_charges,contract,churned\n"
       + "".join(f"c{i},{i % 60},{20 + i % 70}.5,{['monthly', 'yearly', 'two_year'][i % 3]},{str(i % 4 == 0).lower()}\n"
                 for i in range(200)))
LAST_MODIFIED = 1_700_000_000  # 2023-11-14


class _Files(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Last-Modified", formatdate(LAST_MODIFIED, usegmt=True))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Files.files = {"/data/customers.csv": CSV.encode()}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _point(project, url: str, version: str | None = None) -> None:
    from tests.runtime.conftest import SPEC as spec

    pin = f"\n    version: {version}" if version else ""
    project.write("mlproject.yaml", spec.replace("    uri: data/customers.csv\n",
                                                 f"    uri: {url}{pin}\n", 1))


def test_check_data_reads_a_source_over_http(project, mlspec, server) -> None:
    _point(project, f"{server}/data/customers.csv")
    r = mlspec("check-data", "customers", "--no-push", "--format", "json")
    assert r.exit_code == 0, r.output
    assert {x["column"] for x in r.json["results"]} >= {"customer_id", "tenure_months", "contract"}
    cached = list((project.root / ".mlspec/cache/http").rglob("customers.csv"))
    assert len(cached) == 1 and cached[0].read_text() == CSV


def test_a_sha256_pin_is_enforced(project, mlspec, server) -> None:
    good = "sha256:" + hashlib.sha256(CSV.encode()).hexdigest()
    _point(project, f"{server}/data/customers.csv", good)
    assert mlspec("check-data", "customers", "--no-push").exit_code == 0
    _point(project, f"{server}/data/customers.csv", "sha256:" + "0" * 64)
    r = mlspec("check-data", "customers", "--no-push", "--format", "json")
    assert r.exit_code == 1
    (d,) = r.json["diagnostics"]
    assert d["code"] == "MS605" and "does not match its pin" in d["message"]


def test_freshness_is_the_servers_last_modified(project, mlspec, server) -> None:
    _point(project, f"{server}/data/customers.csv")
    r = mlspec("freshness", "--no-push", "--exit-zero-on-finding", "--format", "json")
    entry = next(e for e in r.json["results"] if e["source"] == "customers")
    assert entry["last_updated_timestamp"] == LAST_MODIFIED and entry["fresh"] is False


def test_errors_are_diagnostics(project, mlspec, server, monkeypatch) -> None:
    _point(project, f"{server}/data/missing.csv")
    r = mlspec("check-data", "customers", "--no-push", "--format", "json")
    assert r.exit_code == 1 and "HTTP 404" in r.json["diagnostics"][0]["message"]

    _point(project, "http://data.example.com/customers.csv")    # never contacted: refused first
    r = mlspec("check-data", "customers", "--no-push", "--format", "json")
    assert r.exit_code == 1 and "plain http://" in r.json["diagnostics"][0]["message"]

    monkeypatch.setenv("MLSPEC_MAX_DATA_BYTES", "100")
    _point(project, f"{server}/data/customers.csv")
    r = mlspec("check-data", "customers", "--no-push", "--format", "json")
    assert r.exit_code == 1 and "byte limit" in r.json["diagnostics"][0]["message"]
    assert not [p for p in (project.root / ".mlspec/cache/http").rglob("*") if p.is_file()]


def test_validate_accepts_a_schema_on_an_https_source(project, mlspec) -> None:
    _point(project, "https://data.example.com/exports/customers.csv")
    r = mlspec("validate", "--format", "json")
    assert r.exit_code == 0, r.output
    assert not [d for d in r.json["diagnostics"] if d["code"] == "MS340"]


def test_cache_paths_stay_inside_the_cache(tmp_path: Path) -> None:
    from mlspec.runtime.http_data import CACHE_DIR, cache_path

    for url in ("https://x.example/../../etc/passwd", "https://x.example/", "https://x.example/a/..%2F..%2Fb.csv",
                "https://x.example/.hidden"):
        p = cache_path(url, tmp_path)
        assert p.resolve().is_relative_to((tmp_path / CACHE_DIR).resolve()) and not p.name.startswith(".")
