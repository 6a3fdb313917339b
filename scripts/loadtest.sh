#!/usr/bin/env bash
# Bounded load test of one forwarding collector (--forward) in front of an upstream
# collector, both in-process on loopback: N concurrent clients post Segment batches
# for S seconds, the proxy restarts half-way, then upstream is checked for every
# accepted event exactly once. Prints events/s, p99 latency and the spool size.
#
#   scripts/loadtest.sh [--clients N] [--secs S]     (defaults: 200 clients, 60 s)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=200
secs=60
while [ $# -gt 0 ]; do
  case "$1" in
    --clients) clients="$2"; shift 2 ;;
    --secs) secs="$2"; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "loadtest.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
# The clients open one connection each.
ulimit -n 4096 2>/dev/null || true
LOADTEST_CLIENTS="$clients" LOADTEST_SECS="$secs" \
  cargo test --release -p segflow-collector --test loadtest -- \
  --ignored --nocapture --exact full_load_test
