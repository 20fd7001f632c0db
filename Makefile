# sumchain — every target installs what it needs on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NPM := node_modules/.installed

.PHONY: demo test bench contracts lint clean browser

$(STAMP_PY): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ray]'
	touch $@

# `npm install` rather than `npm ci`: with EDR's per-platform bindings in the lock, npm 11's
# `npm ci` refuses the lock (npm/cli#4828); `npm install` still takes the locked versions.
$(STAMP_NPM): package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

demo: $(STAMP_PY)
	$(VENV)/bin/sumchain demo

# The dashboard's browser tests drive Debian's chromium (never `playwright install`, which
# downloads): installed here through apt when running as root, else one line says how.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { test "$$(id -u)" = 0 && apt-get update -qq \
		&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
		|| { echo "make test: the browser tests need $(CHROMIUM): run 'sudo apt-get install -y chromium' and retry" >&2; exit 1; }

# The gates first (a few seconds each): lint, format and types, then the suite.
test: $(STAMP_PY) $(STAMP_NPM) browser lint
	$(PY) -m pytest -n 2 --dist loadgroup -q tests

bench: $(STAMP_PY) $(STAMP_NPM)
	$(VENV)/bin/sumchain bench gas --out bench/results/gas
	$(PY) -m bench.throughput --out bench/results/throughput

contracts: $(STAMP_PY) $(STAMP_NPM)
	$(PY) -m vm_contracts.build

lint: $(STAMP_PY)
	$(VENV)/bin/ruff check chain vm_contracts node bench tests
	$(VENV)/bin/ruff format --check chain vm_contracts node bench tests
	$(VENV)/bin/mypy chain node vm_contracts bench

clean:
	rm -rf $(VENV) node_modules
