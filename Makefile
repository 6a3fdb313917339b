# segflow: two commands do everything. See README.md.
.PHONY: demo test setup pkg collector bench size clean loadtest

# Build the npm package (pkg/), start the collector with the demo page, print the URL.
demo:
	bash scripts/demo.sh

# Install what is missing, then formatting, clippy, native, browser and end-to-end tests.
test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh

pkg:
	bash scripts/build-pkg.sh

collector:
	cargo build --release -p segflow-collector

# segflow and analytics-next side by side in headless Chromium; writes docs/benchmarks.md.
bench:
	bash scripts/bench.sh

# Where the bytes go: both wasm modules, by source module, and twiggy's top items.
size:
	bash scripts/size.sh

# One forwarding collector in front of another on loopback: 200 clients, 60 s, a
# restart mid-way; prints events/s, p99 latency, spool size; checks exactly once.
# Shorter: make loadtest ARGS="--clients 20 --secs 5".
loadtest:
	bash scripts/loadtest.sh $(ARGS)

clean:
	rm -rf pkg target node_modules
