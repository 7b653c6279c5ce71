#!/usr/bin/env bash
# tools/setup.sh: install everything mlspec's test suite needs, pinned, on a fresh
# Debian 12 machine. Run it from anywhere; it is idempotent and each step is skipped
# when a stamp shows it is already done with the same pins.
#
# Usage: bash tools/setup.sh [--no-system] [--no-airflow] [--no-node]
#   --no-system   skip the Debian packages (Prometheus, Pushgateway, Alertmanager, shellcheck, dot,
#                 chromium)
#   --no-airflow  skip the Airflow 3 venv and its template database
#   --no-node     skip the npm tools (npm ci in tools/grafana-check, tools/mermaid-check and
#                 tools/yaml-language-server)
#
# Steps:
#   1. system  apt-get install prometheus prometheus-pushgateway prometheus-alertmanager shellcheck
#              graphviz chromium (as root, only what is missing; no daemon is started: the validator
#              tests run promtool/amtool, the server tests start their own servers on loopback;
#              chromium is the headless browser the report tests open pages in)
#   2. python  $PYTHON -m pip install -e '.[dev]' (mlspec + test + validators extras)
#   3. airflow venv at ${MLSPEC_AIRFLOW_VENV:-$REPO/.venv-airflow} with Airflow 3 and the
#              cncf-kubernetes provider, plus a migrated SQLite DB that tests copy
#   4. node    npm ci in tools/grafana-check (@grafana/schema + typescript, locked) and in
#              tools/mermaid-check (mermaid, whose bundled parser the summary tests run in Chromium),
#              in tools/yaml-language-server (the editor language server the LSP tests drive) and in
#              tools/k8s-crd-check (prometheus-operator's CRD schemas, for the ServiceMonitor)
#
# Environment: PYTHON (default: python, else python3), MLSPEC_AIRFLOW_VENV.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"
AIRFLOW_VENV="${MLSPEC_AIRFLOW_VENV:-$REPO/.venv-airflow}"
GRAFANA_DIR="$REPO/tools/grafana-check"
MERMAID_DIR="$REPO/tools/mermaid-check"
CRD_DIR="$REPO/tools/k8s-crd-check"
LSP_DIR="$REPO/tools/yaml-language-server"

# Pins. Bumping one re-runs its step (the stamps record them).
# APT_COMMANDS[i]: the commands (space-separated) the tests need from APT_PACKAGES[i].
APT_PACKAGES=(prometheus prometheus-pushgateway prometheus-alertmanager shellcheck graphviz chromium)
APT_COMMANDS=("promtool prometheus" prometheus-pushgateway "amtool prometheus-alertmanager" shellcheck dot chromium)
AIRFLOW_PINS=("apache-airflow==3.3.2" "apache-airflow-providers-cncf-kubernetes==10.25.0")
STAMP_FORMAT="mlspec-setup-v1"

DO_SYSTEM=1; DO_AIRFLOW=1; DO_NODE=1
for arg in "$@"; do
  case "$arg" in
    --no-system) DO_SYSTEM=0 ;;
    --no-airflow) DO_AIRFLOW=0 ;;
    --no-node) DO_NODE=0 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "[setup] $*"; }
# pip, quietly: drop the machine's notes about absent local index folders.
pip_q() { "$@" -q --disable-pip-version-check --progress-bar off --root-user-action=ignore \
  2> >(grep -v -e "^WARNING: Location '.*' is ignored" >&2); }
now() { date +%s.%N; }
T_ALL=$(now)
step_start() { T_STEP=$(now); log "== $1"; }
step_end() { log "   $1 done in $(awk -v a="$T_STEP" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s"; }

# ------------------------------------------------------------------ 1. Debian packages
setup_system() {
  step_start "system packages: ${APT_PACKAGES[*]}"
  local missing=() i cmd
  for i in "${!APT_COMMANDS[@]}"; do
    for cmd in ${APT_COMMANDS[$i]}; do
      command -v "$cmd" >/dev/null 2>&1 || { missing+=("${APT_PACKAGES[$i]}"); break; }
    done
  done
  if [ ${#missing[@]} -eq 0 ]; then
    log "   already installed (${APT_COMMANDS[*]})"
  elif [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "   WARNING: missing ${missing[*]} and not root with apt-get: install them yourself;"
    log "   the validator tests that need them will skip (and fail in CI)"
  else
    # Never start the daemons these packages ship: a policy-rc.d that denies every
    # service start, unless the machine already has one (ours is removed afterwards).
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
      trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    local aptlog; aptlog="$(mktemp /tmp/mlspec-setup-apt.XXXXXX)"
    log "   apt-get update && apt-get install -y --no-install-recommends ${missing[*]} (log: $aptlog)"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"; } > "$aptlog" 2>&1; then
      tail -30 "$aptlog"; log "   ERROR: apt-get failed"; exit 1
    fi
    rm -f "$aptlog"
    if [ "$own_policy" = 1 ]; then rm -f "$policy"; trap - EXIT; fi
    for i in "${!APT_COMMANDS[@]}"; do
      for cmd in ${APT_COMMANDS[$i]}; do
        command -v "$cmd" >/dev/null 2>&1 || { log "   ERROR: $cmd still missing after apt-get install"; exit 1; }
      done
    done
  fi
  step_end system
}

# ------------------------------------------------------------------ 2. Python packages
# Fast path: the stamp records the pyproject.toml hash, the interpreter and the checkout;
# we also check that mlspec imports from THIS checkout and every requirement of
# mlspec-compiler[dev] is installed in a matching version.
python_ok() {
  "$PYTHON" - "$REPO" <<'PY'
import json, sys
from importlib import metadata
from pathlib import Path
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
repo = Path(sys.argv[1]).resolve()
try:  # installed, and editable from THIS checkout (a fresh clone elsewhere reinstalls)
    info = json.loads(metadata.distribution("mlspec-compiler").read_text("direct_url.json") or "{}")
except metadata.PackageNotFoundError:
    sys.exit(1)
if info.get("url") != repo.as_uri() or not info.get("dir_info", {}).get("editable"):
    sys.exit(1)
todo, seen = ["dev"], set()
while todo:
    extra = todo.pop()
    if extra in seen:
        continue
    seen.add(extra)
    for line in metadata.requires("mlspec-compiler") or []:
        req = Requirement(line)
        if req.marker and not req.marker.evaluate({"extra": extra}):
            continue
        if req.marker is None and extra != "dev":
            continue  # base requirements: checked once, on the "dev" pass
        if req.name == "mlspec-compiler":  # the distribution (import name: mlspec)
            todo.extend(req.extras)
            continue
        try:
            if not req.specifier.contains(metadata.version(req.name), prereleases=True):
                sys.exit(1)
        except metadata.PackageNotFoundError:
            sys.exit(1)
PY
}

setup_python() {
  step_start "python: $PYTHON -m pip install -e '.[dev]'"
  local stamp_dir="$REPO/.mlspec/cache/setup" want
  want="$STAMP_FORMAT $("$PYTHON" -c 'import sys; print(sys.executable)') $REPO $(sha256sum "$REPO/pyproject.toml" | cut -c1-64)"
  if [ "$(cat "$stamp_dir/python.stamp" 2>/dev/null)" = "$want" ] && python_ok; then
    log "   already installed (stamp matches pyproject.toml)"
  else
    (cd "$REPO" && pip_q "$PYTHON" -m pip install -e '.[dev]')
    python_ok || { log "   ERROR: mlspec-compiler[dev] is still not fully installed"; exit 1; }
    mkdir -p "$stamp_dir" && echo "$want" > "$stamp_dir/python.stamp"
  fi
  step_end python
}

# ------------------------------------------------------------------ 3. Airflow 3 venv
setup_airflow() {
  step_start "airflow venv: $AIRFLOW_VENV (${AIRFLOW_PINS[*]})"
  local want="$STAMP_FORMAT ${AIRFLOW_PINS[*]}"
  local stamp="$AIRFLOW_VENV/mlspec-setup.stamp"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$AIRFLOW_VENV/bin/python" ]; then
    log "   already installed"
  else
    rm -rf "$AIRFLOW_VENV"
    log "   creating venv and installing (about 30 s with a warm pip cache, 300 MB)"
    "$PYTHON" -m venv "$AIRFLOW_VENV"
    pip_q "$AIRFLOW_VENV/bin/python" -m pip install "${AIRFLOW_PINS[@]}"
    "$AIRFLOW_VENV/bin/python" -c '
import airflow.sdk
from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
print("[setup]    airflow", airflow.__version__, "imports OK")'
    # No constraints file is reachable here: record what the resolver chose.
    "$AIRFLOW_VENV/bin/python" -m pip freeze --disable-pip-version-check > "$AIRFLOW_VENV/mlspec-freeze.txt"
    rm -rf "$AIRFLOW_VENV/mlspec-db-template"
    echo "$want" > "$stamp"
  fi
  # A migrated SQLite DB, made once; airflow_dag_test() copies it for every run.
  local tdir="$AIRFLOW_VENV/mlspec-db-template"
  if [ -f "$tdir/airflow.db" ] && [ "$(cat "$tdir/stamp" 2>/dev/null)" = "$want" ]; then
    log "   template DB already migrated: $tdir/airflow.db"
  else
    log "   airflow db migrate -> $tdir/airflow.db"
    rm -rf "$tdir" && mkdir -p "$tdir"
    AIRFLOW_HOME="$tdir" AIRFLOW__CORE__LOAD_EXAMPLES=False \
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$tdir/airflow.db" \
      "$AIRFLOW_VENV/bin/airflow" db migrate > "$tdir/migrate.log" 2>&1 \
      || { tail -20 "$tdir/migrate.log"; log "   ERROR: airflow db migrate failed"; exit 1; }
    echo "$want" > "$tdir/stamp"
  fi
  # The generated DAGs call `mlspec gate/check-data/register/…` and the example's own code, so
  # dag.test() needs mlspec and the churn example's requirements inside the Airflow venv.
  # Editable installs record entry points at install time: re-install when pyproject changes.
  local proj_want proj_stamp="$AIRFLOW_VENV/mlspec-project.stamp"
  proj_want="$STAMP_FORMAT $REPO $(cat "$REPO/pyproject.toml" "$REPO/examples/churn/requirements.txt" | sha256sum | cut -c1-64)"
  if [ "$(cat "$proj_stamp" 2>/dev/null)" = "$proj_want" ]; then
    log "   mlspec-compiler[runtime] and the churn example's requirements already in the venv"
  else
    log "   installing mlspec-compiler[runtime] and examples/churn/requirements.txt into the venv"
    pip_q "$AIRFLOW_VENV/bin/python" -m pip install -e "$REPO[runtime]" -r "$REPO/examples/churn/requirements.txt"
    echo "$proj_want" > "$proj_stamp"
  fi
  step_end airflow
}

# ------------------------------------------------------------------ 4. npm tools
# npm_ci DIR MARKER [ARGS…]: `npm ci ARGS…` in DIR unless its stamp matches package.json +
# package-lock.json and MARKER (a file the install provides) exists.
npm_ci() {
  local dir="$1" marker="$2" want stamp="$1/node_modules/.mlspec-setup.stamp"
  shift 2
  want="$STAMP_FORMAT $(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -c1-64)"
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -e "$dir/node_modules/$marker" ]; then
    log "   ${dir#"$REPO"/}: already installed"
  else
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error "$@")
    echo "$want" > "$stamp"
  fi
}

setup_node() {
  step_start "node: npm ci in tools/grafana-check, tools/mermaid-check, tools/yaml-language-server and tools/k8s-crd-check"
  command -v npm >/dev/null 2>&1 || { log "   ERROR: npm not found (Debian: apt-get install nodejs npm)"; exit 1; }
  npm_ci "$GRAFANA_DIR" .bin/tsc
  # Only the prebuilt bundle is used: no package of it needs its install scripts run.
  npm_ci "$MERMAID_DIR" mermaid/dist/mermaid.min.js --ignore-scripts
  npm_ci "$LSP_DIR" .bin/yaml-language-server
  npm_ci "$CRD_DIR" @kubernetes-models/prometheus-operator/package.json
  step_end node
}

log "repo $REPO; python $PYTHON ($("$PYTHON" --version 2>&1))"
if [ "$DO_SYSTEM" = 1 ]; then setup_system; else log "== system packages: skipped (--no-system)"; fi
setup_python
if [ "$DO_AIRFLOW" = 1 ]; then setup_airflow; else log "== airflow: skipped (--no-airflow)"; fi
if [ "$DO_NODE" = 1 ]; then setup_node; else log "== node: skipped (--no-node)"; fi
log "all done in $(awk -v a="$T_ALL" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}') s"
