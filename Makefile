# Arda Realtime — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

TS := clients/typescript
NODE_STAMP := $(TS)/node_modules/.installed
ARDA_BIN := $(CURDIR)/$(BIN)/arda

.PHONY: run test lint typecheck pytest chaos chaos-quick bench-bus bench-flood bench-ws redis-server nginx chromium webapp ts-check ts-integration ts-e2e ts-package clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	@touch $(STAMP)

$(NODE_STAMP): $(TS)/package.json $(TS)/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20+ with npm is needed for the browser client: apt-get install nodejs npm"; exit 1; }
	cd $(TS) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## run: install, build the notification center page, and run the service (development mode, embedded bus, no Redis)
run: $(STAMP)
	@$(MAKE) --no-print-directory webapp || echo "(the notification center page could not be built; the service runs without it)"
	$(BIN)/arda serve

## webapp: build the notification center and the live dashboard into the service's package (served at / and /dashboard on the HTTP port)
webapp: $(NODE_STAMP)
	cd $(TS) && npm run --silent build:app

# $(call debian,COMMAND,PACKAGE,WHAT-FOR): install Debian's PACKAGE when COMMAND is missing (as root), else say how
debian = @command -v $(1) >/dev/null || { \
  if [ "$$(id -u)" = 0 ]; then \
    echo "installing Debian's $(2) for $(3)"; \
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null) || exit 1; \
  else \
    echo "$(1) is missing: run 'sudo apt-get install $(2)' (or make test as root), then make test again"; exit 1; \
  fi; }

## chromium: make sure Debian's Chromium (driven by playwright-core in the browser tests) is installed
chromium:
	$(call debian,chromium,chromium,the browser tests)

## redis-server: make sure the Debian redis-server the tests start privately is installed
redis-server:
	$(call debian,redis-server,redis-server,the tests)

## nginx: make sure Debian's nginx (the real load balancer of tests/test_proxy.py) is installed
nginx:
	$(call debian,nginx,nginx-light,the load-balancer test)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) $(NODE_STAMP) redis-server nginx
	$(BIN)/pytest

## ts-check: the TypeScript client: generated types up to date, strict type check, unit tests, build
ts-check: $(NODE_STAMP) $(STAMP)
	cd $(TS) && ARDA_BIN=$(ARDA_BIN) npm run --silent gen -- --check
	cd $(TS) && npm run --silent typecheck
	cd $(TS) && ARDA_BIN=$(ARDA_BIN) npm test --silent
	cd $(TS) && npm run --silent build

## ts-integration: NotificationClient against the real service and a private Redis
ts-integration: $(NODE_STAMP) $(STAMP) redis-server
	cd $(TS) && ARDA_BIN=$(ARDA_BIN) npm run --silent test:integration

## ts-e2e: the notification center in Debian's Chromium against the real service and Redis
ts-e2e: $(NODE_STAMP) $(STAMP) redis-server chromium webapp
	cd $(TS) && ARDA_BIN=$(ARDA_BIN) npm run --silent test:e2e

## ts-package: npm pack (the prepack build), then a fresh Vite + React + TypeScript app installs the tarball,
## type-checks (strict), builds, and shows a notification from the real service and Redis in Debian's Chromium
ts-package: $(NODE_STAMP) $(STAMP) redis-server chromium
	cd $(TS) && ARDA_BIN=$(ARDA_BIN) npm run --silent test:package

## test: install everything needed and run every check: ruff, mypy --strict, pytest, the browser client's,
## the fault suite's short run, and the benchmark harness's smoke test (correctness only) against the peers
test: lint typecheck pytest ts-check ts-integration ts-e2e ts-package chaos-quick bench-quick

## chaos: the fault suite against real processes (every fault, then a 20-minute soak); one table of results
chaos: $(STAMP) redis-server
	$(BIN)/python bench/chaos.py

## chaos-quick: the fault suite, short (no soak); fails on any silent gap, foreign or reordered event
chaos-quick: $(STAMP) redis-server
	$(BIN)/python bench/chaos.py --quick

## bench-bus: publish and receive throughput of the event bus against a private redis-server
bench-bus: $(STAMP) redis-server
	$(BIN)/python bench/bus.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

## bench-flood: ten unauthenticated sockets flooding empty frames; another client's ping→pong with and without
bench-flood: $(STAMP) redis-server
	$(BIN)/python bench/flood.py
	$(BIN)/python bench/flood.py --kind continuation

## bench-ws: WebSocket load benchmark of the notification service (latency, throughput, memory, subscribe storm)
bench-ws: $(STAMP) redis-server
	$(BIN)/python bench/ws.py

# -- arda against its peers (python-socketio, Node.js Socket.IO): bench/compare.py ---------------------------
BENCH_STAMP := $(VENV)/.bench-installed
PEER_NODE := bench/peers/node_socketio
PEER_NODE_STAMP := $(VENV)/.bench-node-installed
.PHONY: bench bench-quick

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $@

$(PEER_NODE_STAMP): $(PEER_NODE)/package.json $(PEER_NODE)/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20+ with npm is needed for the Node Socket.IO peer: apt-get install nodejs npm"; exit 1; }
	cd $(PEER_NODE) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## bench: arda, python-socketio, Node Socket.IO and Django Channels side by side, 3 runs each (RUNS=n); medians, ratios and
## plots written to docs/benchmarks.md ("Against the peers") and docs/bench-peers-*.png
bench: $(BENCH_STAMP) $(PEER_NODE_STAMP) redis-server
	$(BIN)/python bench/compare.py --runs $(or $(RUNS),3)

## bench-quick: smoke test of the comparison: small sizes, one run per system, fails on any loss/dup/crossing/reorder
bench-quick: $(BENCH_STAMP) $(PEER_NODE_STAMP) redis-server
	$(BIN)/python bench/compare.py --quick
