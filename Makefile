# voxplug: `make demo` runs the keyless local voice agent; `make test` runs every test.
# Both install what they need into .venv (and Debian packages via apt when missing).

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
EXTRAS ?= all,local,dev
STAMP := $(VENV)/.installed-$(shell echo '$(EXTRAS)' | tr ',' '-')
SYSTEM_STAMP := $(VENV)/.system-deps
TEST_STAMP := $(VENV)/.system-deps-test
# Debian packages: test speech for both; real PostgreSQL and Prometheus for the tests
DEMO_PACKAGES := espeak-ng sox
TEST_PACKAGES := $(DEMO_PACKAGES) postgresql prometheus
export ORT_DISABLE_TELEMETRY := 1
# llama-cpp-python builds from source (~8 min on 2 cores, once: pip caches the wheel);
# a portable build so the cached wheel runs on any x86-64 machine
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: demo test lint install system-deps livekit-server clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	@echo "installing voxplug[$(EXTRAS)] into $(VENV) (the first run builds llama-cpp-python: several minutes)"
	$(PIP) install --progress-bar on -e '.[$(EXTRAS)]'
	@touch $@

install: $(STAMP)

$(SYSTEM_STAMP): scripts/install-system-deps.sh | $(PY)
	scripts/install-system-deps.sh $(DEMO_PACKAGES)
	@touch $@

$(TEST_STAMP): scripts/install-system-deps.sh | $(PY)
	scripts/install-system-deps.sh $(TEST_PACKAGES)
	@touch $@

system-deps: $(SYSTEM_STAMP)

demo: install system-deps
	$(VENV)/bin/voxplug simulate examples/conversation.yaml --out out/demo

test: install $(TEST_STAMP)
	scripts/livekit-server.sh install >/dev/null
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

# a self-hosted LiveKit server for local use: ws://127.0.0.1:7880, devkey / secret
livekit-server:
	scripts/livekit-server.sh run

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
