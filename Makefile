# voxplug: `make demo` runs the keyless local voice agent; `make test` runs every test but
# the container image ones (`make test-image`).
# Both install what they need into .venv (and Debian packages via apt when missing).

SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
EXTRAS ?= all,local,dev
STAMP := $(VENV)/.installed-$(shell echo '$(EXTRAS)' | tr ',' '-')
# Debian packages: test speech for both; real PostgreSQL, Prometheus and Chromium for the tests
DEMO_PACKAGES := espeak-ng sox
# the LiveKit SIP service: Redis shared with the LiveKit server, and the libraries its CGO build links
SIP_PACKAGES := redis-server pkg-config libopus-dev libopusfile-dev libsoxr-dev
TEST_PACKAGES := $(DEMO_PACKAGES) postgresql prometheus chromium $(SIP_PACKAGES)
# the browser page (voxplug serve): npm packages from web/package-lock.json, bundled by
# esbuild into the Python package; rebuilt only when its sources or the lockfile change
WEB_NPM := web/node_modules/.package-lock.json
WEB_BUILT := src/voxplug/web/static/app.js
WEB_SOURCES := web/build.mjs web/index.html $(wildcard web/src/*)
# named after their package lists: a package added to a list is installed on the next run
SYSTEM_STAMP := $(VENV)/.system-deps-$(shell echo '$(DEMO_PACKAGES)' | tr ' ' '-')
TEST_STAMP := $(VENV)/.system-deps-test-$(shell echo '$(TEST_PACKAGES)' | tr ' ' '-')
# the image and its tests (make image, make test-image; not make test): podman, runc (crun
# refuses this machine's hybrid cgroups) and debootstrap, which makes the base image from
# Debian packages, so no image registry is needed
CONTAINER_PACKAGES := podman runc debootstrap
CONTAINER_STAMP := $(VENV)/.system-deps-container-$(shell echo '$(CONTAINER_PACKAGES)' | tr ' ' '-')
export ORT_DISABLE_TELEMETRY := 1
# llama-cpp-python builds from source (~8 min on 2 cores, once: pip caches the wheel);
# a portable build so the cached wheel runs on any x86-64 machine
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF

.PHONY: demo test test-image lint install system-deps livekit-server livekit-sip web wheel image image-local clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	@echo "installing voxplug[$(EXTRAS)] into $(VENV) (the first run builds llama-cpp-python: several minutes)"
	$(PIP) install --progress-bar on -e '.[$(EXTRAS)]'
	@touch $@

install: $(STAMP) $(WEB_BUILT)

# Node.js with npm is on most machines; Debian's packages otherwise
$(WEB_NPM): web/package-lock.json
	command -v npm >/dev/null || scripts/install-system-deps.sh nodejs npm
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

$(WEB_BUILT): $(WEB_NPM) $(WEB_SOURCES)
	cd web && node build.mjs

web: $(WEB_BUILT)

# a wheel that carries the built page
wheel: install
	$(PIP) wheel --no-deps --no-build-isolation -w dist .

$(SYSTEM_STAMP): scripts/install-system-deps.sh | $(PY)
	scripts/install-system-deps.sh $(DEMO_PACKAGES)
	@touch $@

$(TEST_STAMP): scripts/install-system-deps.sh Makefile | $(PY)
	scripts/install-system-deps.sh $(TEST_PACKAGES)
	@touch $@

$(CONTAINER_STAMP): scripts/install-system-deps.sh | $(PY)
	scripts/install-system-deps.sh $(CONTAINER_PACKAGES)
	@touch $@

system-deps: $(SYSTEM_STAMP)

demo: install system-deps
	$(VENV)/bin/voxplug simulate examples/conversation.yaml --out out/demo

# every test except those marked `image` (tests/deploy/conftest.py deselects them unless -m
# names the marker): the deployment manifests are validated here, no image is built
test: install $(TEST_STAMP)
	scripts/livekit-server.sh install >/dev/null
	scripts/livekit-sip.sh install >/dev/null
	scripts/kustomize.sh install >/dev/null
	$(VENV)/bin/lint-imports
	# three test processes, a file each: most tests wait on real-time audio and servers, so
	# the wall time fell from 26 to 17 min on the 2 cores (measured at load 8-14); the live
	# calls (marker realtime) share one of them, one at a time (tests/conftest.py says why)
	$(VENV)/bin/pytest -q -n 3 --dist loadgroup

# the image tests: build the base and worker images (cold about 27 min on 2 loaded cores;
# stamped on their inputs, so a second run builds nothing), run `voxplug config check` and a
# worker answering a call in a container, bring the compose stack up with one call
test-image: install $(TEST_STAMP) $(CONTAINER_STAMP)
	scripts/livekit-server.sh install >/dev/null
	$(VENV)/bin/pytest -q -m image tests/deploy

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/hadolint Containerfile tests/deploy/stack/Containerfile

# the worker image (Containerfile, with the built page) with podman; stamped on its inputs
# (docs/deployment.md)
image: $(WEB_BUILT) $(CONTAINER_STAMP)
	scripts/container-image.sh

# the same with the keyless local models (Whisper, llama.cpp, Piper): about 1.5 GB larger
image-local: $(WEB_BUILT) $(CONTAINER_STAMP)
	scripts/container-image.sh --local-models

# a self-hosted LiveKit server for local use: ws://127.0.0.1:7880, devkey / secret
livekit-server:
	scripts/livekit-server.sh run

# the LiveKit SIP service on udp/tcp 127.0.0.1:5060, for a server started with Redis (docs/telephony.md)
livekit-sip: $(TEST_STAMP)
	scripts/livekit-sip.sh run

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache dist web/node_modules src/voxplug/web/static
