#!/usr/bin/env bash
# The README's demo command (`make demo`): installs what is missing, builds pkg/,
# starts the collector (embedded SQLite database) serving www/ and pkg/, and prints
# the URL to open. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
bash scripts/setup.sh
bash scripts/build-pkg.sh
port=${PORT:-8787}
cargo build --release -q -p segflow-collector
# Something already answers on the port: say so (and how to pick another) before
# printing URLs that would show someone else's server.
if (exec 3<>"/dev/tcp/127.0.0.1/${port}") 2>/dev/null; then
  echo "segflow demo: port ${port} is in use; pick another with PORT=8788 make demo" >&2
  exit 1
fi
echo
echo "  segflow demo:      http://127.0.0.1:${port}/"
echo "  live debugger:     http://127.0.0.1:${port}/debugger"
echo "  stored events:     http://127.0.0.1:${port}/api/events?writeKey=demo-key"
echo "  (database: segflow-demo.db; Ctrl-C to stop)"
echo
exec "${CARGO_TARGET_DIR:-target}/release/segflow-collector" --port "$port" --write-key demo-key=development \
  --db segflow-demo.db --static /=www --static /pkg=pkg
