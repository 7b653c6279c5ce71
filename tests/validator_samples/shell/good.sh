#!/usr/bin/env bash
# Self-check sample: a clean shell script.
set -euo pipefail
for f in "$@"; do
  printf '%s\n' "$f"
done
