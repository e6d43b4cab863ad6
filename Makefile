# Arda Realtime — the two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest bench-bus bench-ws redis-server clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is needed (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## run: install into .venv and run the notification service (development mode, embedded bus, no Redis needed)
run: $(STAMP)
	$(BIN)/arda serve

## redis-server: make sure the Debian redis-server the tests start privately is installed
redis-server:
	@command -v redis-server >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's redis-server package for the tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null) || exit 1; \
	  else \
	    echo "redis-server is missing: run 'sudo apt-get install redis-server' (or make test as root), then make test again"; exit 1; \
	  fi; }

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) redis-server
	$(BIN)/pytest

## test: install everything needed and run every check: ruff, mypy --strict, pytest
test: lint typecheck pytest

## bench-bus: publish and receive throughput of the event bus against a private redis-server
bench-bus: $(STAMP) redis-server
	$(BIN)/python bench/bus.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

## bench-ws: WebSocket load benchmark of the notification service (latency, throughput, memory, subscribe storm)
bench-ws: $(STAMP) redis-server
	$(BIN)/python bench/ws.py
