# Shared helpers for the scripts in this folder (sourced, not run).
export PATH="$HOME/.cargo/bin:$PATH"

# start_collector LOGFILE ARGS...: starts the release collector on a free loopback port,
# sets COLLECTOR_PID and COLLECTOR_URL.
start_collector() {
  local log=$1; shift
  cargo build --release -q -p segflow-collector
  "${CARGO_TARGET_DIR:-target}/release/segflow-collector" --port 0 "$@" >"$log" 2>&1 &
  COLLECTOR_PID=$!
  local i
  for i in $(seq 1 100); do
    COLLECTOR_URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$log" | head -1 || true)
    [ -n "$COLLECTOR_URL" ] && return 0
    kill -0 "$COLLECTOR_PID" 2>/dev/null || { cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "collector did not start" >&2; cat "$log" >&2; return 1
}
