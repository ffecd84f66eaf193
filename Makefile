PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test coverage test-slow test-deep test-idp idp-deps lint clean conformance dist-check bench bench-tasks bench-replicas bench-mandates soak schemas docs system-deps replicas

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

# What the browser and database tests need from the system: Debian's chromium, chromium-driver and
# postgresql. Needs root (CI runs it); without them those tests skip, saying why (and fail under CI=true).
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -z "$$missing" ]; then echo "system packages present"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "missing:$$missing (install them with apt-get as root)"; fi

demo: $(STAMP)
	$(BIN)/polar-orders-mcp demo

# Two workers per core (tests/conftest.py), a test file per worker at a time (module fixtures stay whole):
# PYTEST_ARGS to add.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile -rfEs -m "not slow" $(PYTEST_ARGS)

# make test measured: branch coverage across processes (the suite's workers and every server, emulator and demo
# the tests start, each writing its own data file, combined after the run). Fails under fail_under in
# pyproject.toml's [tool.coverage.report]. COVERAGE_ARGS="--show-missing" (or --include=...) for the report.
coverage: $(STAMP)
	rm -f .coverage .coverage.*
	$(BIN)/python -m coverage run -m pytest -n auto --dist loadfile -rfEs -m "not slow" $(PYTEST_ARGS)
	$(BIN)/python -m coverage combine --quiet
	$(BIN)/python -m coverage report $(COVERAGE_ARGS)

# The tests marked slow (tests/conftest.py lists them): runs of several processes, of a real browser, of the
# property tests, and smoke runs of the benchmarks and the soak. make test leaves them out; CI runs them.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -n auto --dist loadfile -rfEs -m slow $(PYTEST_ARGS)

# The external identity provider tests against a real OpenID provider (oidc-provider, pinned in
# tests/oauth/idp/ with the Node 22 it supports): part of make test-slow, which installs it when missing too.
IDP_DEPS := tests/oauth/idp/node_modules/.package-lock.json

$(IDP_DEPS): tests/oauth/idp/package.json tests/oauth/idp/package-lock.json
	cd tests/oauth/idp && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

idp-deps: $(IDP_DEPS)

test-idp: $(STAMP) $(IDP_DEPS)
	$(BIN)/python -m pytest -p no:xdist tests/oauth $(PYTEST_ARGS)

# The property tests at depth: 500 hostile argument sets per tool and mode, 200 runs of the approval
# state machine per policy (make test and make test-slow run 6 and 8), without the per-test timeout.
test-deep: $(STAMP)
	POLAR_MCP_FUZZ_EXAMPLES=500 POLAR_MCP_MACHINE_EXAMPLES=200 \
		$(BIN)/python -m pytest -n auto --dist loadfile --timeout 0 tests/properties $(PYTEST_ARGS)

# Rewrite the tool snapshots in tests/schemas/ (title, description, annotations, schemas: public API) after a
# deliberate change; review the diff.
schemas: $(STAMP)
	$(BIN)/python -m tests.update_schemas

# Rewrite docs/configuration.md's options table from Settings and serve's flags after changing an option;
# tests/test_docs.py fails while the committed table differs.
docs: $(STAMP)
	$(BIN)/python scripts/options_table.py

# The lint tools at the versions pinned in pyproject.toml's lint extra, installed once (again when it changes).
LINT_STAMP := $(VENV)/.lint-installed

$(LINT_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[lint]'
	touch $(LINT_STAMP)

lint: $(LINT_STAMP)
	$(BIN)/ruff check src tests bench deploy scripts
	$(BIN)/ruff format --check src tests bench deploy scripts
	$(BIN)/mypy

# The compose recipe (deploy/compose.yaml) as local processes: a PostgreSQL cluster in a temporary
# directory, the emulator, two replicas sharing that database and a proxy in front (round robin, legacy
# sessions sticky). Prints the URLs and credentials; Ctrl-C stops everything.
# REPLICAS_ARGS="--replicas 3 --port 9000 -- --max-daily usd=200000" for more.
replicas: $(STAMP)
	$(BIN)/python -m deploy.local $(REPLICAS_ARGS)

# Ten minutes of mixed calls over streamable HTTP against a server process, with faults injected into
# the emulator behind it; fails on any error or if the server's memory keeps growing. Writes
# bench/results/soak.md. SOAK_ARGS="--duration 60" for a short run.
soak: $(STAMP)
	$(BIN)/python scripts/soak.py $(SOAK_ARGS)

# The official MCP conformance suite, the Inspector's schema lint and Polar's TypeScript SDK against the
# emulator, pinned in conformance/.
CONFORMANCE_DEPS := conformance/node_modules/.package-lock.json

$(CONFORMANCE_DEPS): conformance/package.json conformance/package-lock.json
	cd conformance && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

conformance: $(STAMP) $(CONFORMANCE_DEPS)
	bash conformance/run.sh

# Benchmarks beside the floor and Polar's own MCP server (pinned in bench/package.json), and the support
# tasks on 0.1.0 and this tree: writes bench/results/latest.md, latest.png and tasks.md, and docs/performance.md's
# figures from them. First every benchmark at a tiny size (about a minute), so that one that no longer fits
# the server fails before the long run. BENCH_ARGS=--quick for a short smoke run.
BENCH_STAMP := $(VENV)/.bench-installed
BENCH_DEPS := bench/node_modules/.package-lock.json

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $(BENCH_STAMP)

$(BENCH_DEPS): bench/package.json bench/package-lock.json
	cd bench && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

bench: $(BENCH_STAMP) $(BENCH_DEPS)
	POLAR_MCP_BENCH_SMOKE=1 $(BIN)/python -m pytest -p no:xdist tests/test_bench_tools.py tests/test_bench_smoke.py
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The support tasks alone (also part of make bench): each task's calls on 0.1.0 and on this tree, what the
# model reads and the requests Polar gets; writes bench/results/tasks.md. TASKS_ARGS="--only receipt refund".
bench-tasks: $(STAMP)
	$(BIN)/python -m bench.tasks $(TASKS_ARGS)

# One and two replicas on one PostgreSQL, and the store's cost per irreversible call on SQLite and
# PostgreSQL, in one run: writes bench/results/replicas.md. BENCH_ARGS=--quick for a short smoke run.
bench-replicas: $(STAMP)
	$(BIN)/python -m bench.replicas $(BENCH_ARGS)

# A scripted support day of 50 tasks under a standing approval for small refunds, in one process against the
# embedded emulator: acts done under it, approvals asked of a person and why, the time per act each way. Seeded:
# the same day each run. Writes bench/results/mandates.md and .json. MANDATES_ARGS="--seed 8 --tasks 100".
bench-mandates: $(STAMP)
	$(BIN)/python -m bench.mandates $(MANDATES_ARGS)

# Build the sdist and wheel, then install and run each in a fresh virtualenv.
dist-check:
	PYTHON=$(PYTHON) bash scripts/dist-check.sh

clean:
	rm -rf $(VENV) build dist src/*.egg-info conformance/node_modules conformance/results tests/oauth/idp/node_modules
