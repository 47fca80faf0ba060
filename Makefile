# lrwidget — set-up, tests and demo.  Every target is idempotent.
#   make demo   create .venv if needed, install, open JupyterLab on notebooks/quickstart.ipynb
#   make test   create .venv if needed, install, run ruff, mypy and every test (browser ones too)
#   make bench  run the benchmark scripts and print their tables

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lrwidget-installed
# torch and torchvision are pinned to the builds this machine keeps on local disk, so pip
# never downloads another (multi-GB) torch; fastai then accepts what is installed.
TORCH  := torch==2.14.1 torchvision==0.29.1
PORT   ?= 8888

.PHONY: setup browser test lint demo bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

# The real-browser tests drive Debian's Chromium through Playwright (never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing: run 'sudo apt-get install -y chromium' (needed by the browser tests)" >&2; exit 1; \
	  fi; }

lint: setup
	$(BIN)/ruff check lrwidget tests benchmarks
	$(BIN)/ruff format --check lrwidget tests benchmarks
	$(BIN)/mypy

test: setup browser lint
	$(BIN)/python -m pytest

demo: setup
	@echo "Opening JupyterLab on notebooks/quickstart.ipynb (Ctrl-C to stop)"
	$(BIN)/jupyter lab notebooks/quickstart.ipynb --ip=127.0.0.1 --port=$(PORT) \
	  $$( [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || echo --no-browser ) \
	  $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

bench: setup
	$(BIN)/python -m benchmarks.run_all

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
