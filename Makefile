# Development and CI entry points of drf-defender. Every target prints the commands it
# runs. Targets that need Python create $(VENV) and install the project with its extras
# first, so a fresh clone needs only Python 3.10+ and make.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Interpreter that creates the virtualenvs.
PYTHON ?= python3
# Virtualenv of the default test run, the linters and the docs build.
VENV ?= .venv
# Virtualenv of the second test pass on Django 4.2.
VENV_DJ42 ?= .venv-dj42
# Extras installed into both virtualenvs; "demo" adds what the example project needs.
EXTRAS ?= all,test,dev,demo
# Requirement that pins the second test pass to Django 4.2.
DJANGO_42_SPEC ?= Django>=4.2,<5.0
# Minimum line coverage of the package, in percent; branch coverage is reported only.
COVERAGE_MIN ?= 95
# Extra arguments for every pytest run, for example PYTEST_ARGS='-x -k redis'.
PYTEST_ARGS ?=
# Output folder of the docs build.
DOCS_SITE_DIR ?= site
# Tests whose behaviour depends on the database engine; `make test-postgres` runs them
# again on the PostgreSQL server at 127.0.0.1:5432 (user postgres, trust authentication).
POSTGRES_TESTS ?= tests/test_access_log.py tests/test_access_log_drain.py \
	tests/test_access_log_cleanup.py tests/test_access_log_admin.py \
	tests/test_access_log_celery.py tests/test_operator_commands.py \
	tests/integrations/test_access_log_rows.py
# Stages that `make ci` runs, in order.
CI_STAGES ?= lint typecheck imports coverage test-postgres test-dj42 docs package-check bench-short

PACKAGE := drf_defender
VENV_PYTHON := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.drf-defender-installed
DJ42_PYTHON := $(VENV_DJ42)/bin/python
DJ42_STAMP := $(VENV_DJ42)/.drf-defender-installed
COVERAGE_JSON := build/coverage.json

# Run pytest with interpreter $(1) and arguments $(2). pytest exits with 5 when it
# collected no tests, and an empty run is not a pass, so that exit becomes a failure.
define run_pytest
status=0; $(1) -m pytest $(2) || status=$$?; \
if [ "$$status" -eq 5 ]; then \
  echo "pytest collected no tests; an empty test run counts as a failure." >&2; exit 1; \
fi; \
exit "$$status"
endef

.PHONY: help venv test coverage test-postgres test-dj42 lint format typecheck imports docs \
	package-check ci demo clean

help:
	@echo "make test           run the test suite in $(VENV) (created when missing)"
	@echo "make demo           run the example project on 127.0.0.1:\$${PORT:-8000}"
	@echo "make ci             run every CI stage: $(CI_STAGES)"
	@echo "make coverage       run the tests with coverage; fails below COVERAGE_MIN=$(COVERAGE_MIN)% of lines"
	@echo "make test-postgres  run the database-dependent tests on PostgreSQL (127.0.0.1:5432)"
	@echo "make test-dj42      run the tests on Django 4.2 in $(VENV_DJ42)"
	@echo "make lint           ruff check and ruff format --check"
	@echo "make format         apply ruff format and ruff's automatic fixes"
	@echo "make typecheck      mypy over $(PACKAGE)"
	@echo "make imports        check the import layers with import-linter"
	@echo "make docs           build the documentation with mkdocs --strict into $(DOCS_SITE_DIR)/"
	@echo "make package-check  build sdist and wheel, twine check, import the wheel with core deps only"
	@echo "make clean          delete build, coverage and docs output (keeps the virtualenvs)"
	@echo "make bench          run the side-by-side benchmark in $(VENV_BENCH); rewrites docs/benchmarks.md"
	@echo "make bench-short    run the benchmark harness with a handful of requests (figures not published)"

# The stamp records that the install matches pyproject.toml; editing it reinstalls.
$(VENV_STAMP): pyproject.toml
	[ -x $(VENV_PYTHON) ] || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install -e '.[$(EXTRAS)]'
	$(VENV_PYTHON) -m pip check
	touch $@

# The Django pin goes into the same install as the extras, so that pip picks versions of
# DRF and the other packages that support Django 4.2. Pinning Django in a second install
# would keep, for example, DRF 3.18, which requires Django 5.2. pip check catches a mix.
$(DJ42_STAMP): pyproject.toml
	[ -x $(DJ42_PYTHON) ] || $(PYTHON) -m venv $(VENV_DJ42)
	$(DJ42_PYTHON) -m pip install -e '.[$(EXTRAS)]' '$(DJANGO_42_SPEC)'
	$(DJ42_PYTHON) -m pip check
	touch $@

venv: $(VENV_STAMP)

test: $(VENV_STAMP)
	$(call run_pytest,$(VENV_PYTHON),$(PYTEST_ARGS))

coverage: $(VENV_STAMP)
	rm -f .coverage $(COVERAGE_JSON)
	mkdir -p $(dir $(COVERAGE_JSON))
	$(call run_pytest,$(VENV_PYTHON),--cov=$(PACKAGE) --cov-branch \
		--cov-report=term-missing:skip-covered --cov-report=json:$(COVERAGE_JSON) $(PYTEST_ARGS))
	$(VENV_PYTHON) .ci/check_coverage.py $(COVERAGE_JSON) $(COVERAGE_MIN)

test-postgres: $(VENV_STAMP)
	export DEFENDER_TEST_DB=postgres; $(call run_pytest,$(VENV_PYTHON),$(POSTGRES_TESTS) $(PYTEST_ARGS))

test-dj42: $(DJ42_STAMP)
	$(DJ42_PYTHON) -c 'import django, rest_framework; print("Django", django.get_version(), "DRF", rest_framework.VERSION)'
	$(call run_pytest,$(DJ42_PYTHON),$(PYTEST_ARGS))

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV_STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: $(VENV_STAMP)
	$(VENV_PYTHON) -m mypy $(PACKAGE)

imports: $(VENV_STAMP)
	$(VENV)/bin/lint-imports

docs: $(VENV_STAMP)
	$(VENV_PYTHON) -m mkdocs build --strict --site-dir $(DOCS_SITE_DIR)

# Builds into a temporary folder, then installs the wheel into a new virtualenv without
# extras: `import drf_defender` must work with the core dependencies alone.
package-check: $(VENV_STAMP)
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(VENV_PYTHON) -m build --outdir "$$tmp/dist" .; \
	$(VENV)/bin/twine check --strict "$$tmp"/dist/*; \
	$(PYTHON) -m venv "$$tmp/venv"; \
	"$$tmp/venv/bin/python" -m pip install --quiet "$$tmp"/dist/*.whl; \
	"$$tmp/venv/bin/python" -m zipfile -l "$$tmp"/dist/*.whl | grep '$(PACKAGE)/py.typed' >/dev/null; \
	"$$tmp/venv/bin/python" -c 'import drf_defender; print("imported", drf_defender.__name__)'; \
	"$$tmp/venv/bin/python" -c 'import importlib.util as u; \
		extra = [n for n in ("dj_rest_auth", "rest_framework_simplejwt", "celery") if u.find_spec(n)]; \
		assert not extra, f"the core install pulled in optional packages: {extra}"'

# Runs every stage even after a failure, so one run shows all problems, then prints a
# summary and fails if any stage failed.
ci:
	@failed=""; summary=""; \
	for stage in $(CI_STAGES); do \
	  echo; echo "=== CI stage: $$stage (make $$stage)"; \
	  start=$$SECONDS; \
	  if $(MAKE) --no-print-directory $$stage; then result=passed; else result=FAILED; failed="$$failed $$stage"; fi; \
	  summary="$$summary$$(printf '%-14s %-7s %5d s' "$$stage" "$$result" "$$((SECONDS - start))")\n"; \
	done; \
	echo; echo "=== CI summary"; printf "$$summary"; \
	if [ -n "$$failed" ]; then echo "CI failed in:$$failed" >&2; exit 1; fi; \
	echo "CI passed: every stage succeeded."

# Host of the demo server. demo_users reads it from DEMO_BIND_HOST and creates its users,
# whose passwords are published, only for a loopback host; the demo's runserver rejects
# any other address.
DEMO_HOST ?= 127.0.0.1

demo: $(VENV_STAMP)
	$(VENV_PYTHON) example/manage.py migrate
	DEMO_BIND_HOST='$(DEMO_HOST)' $(VENV_PYTHON) example/manage.py demo_users
	DEMO_BIND_HOST='$(DEMO_HOST)' $(VENV_PYTHON) example/manage.py runserver '$(DEMO_HOST)':$${PORT:-8000}

clean:
	rm -rf build dist $(DOCS_SITE_DIR) .coverage htmlcov .pytest_cache .mypy_cache .ruff_cache

# --- benchmark -------------------------------------------------------------------------
# The benchmark has its own virtualenv: the peers it measures (django-defender,
# django-axes) and its tools are installed there only, never with the package.
# --no-compile halves the install time; Python compiles what it imports on first use.
VENV_BENCH ?= .venv-bench
BENCH_STAMP := $(VENV_BENCH)/.drf-defender-bench-installed

$(BENCH_STAMP): pyproject.toml benchmarks/requirements.txt
	[ -x $(VENV_BENCH)/bin/python ] || $(PYTHON) -m venv $(VENV_BENCH)
	$(VENV_BENCH)/bin/python -m pip install --no-compile -e . -r benchmarks/requirements.txt
	touch $@

# The HTTP figures need wrk from Debian; as root the target installs it when missing.
define need_wrk
command -v wrk >/dev/null || { \
  echo "wrk is not installed; the HTTP figures need it (apt-get install -y wrk)." >&2; \
  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
    apt-get install -y wrk || { apt-get update && apt-get install -y wrk; }; \
  else exit 1; fi; }
endef

.PHONY: bench bench-short
bench: $(BENCH_STAMP)
	@$(need_wrk)
	BENCH_COMMAND="make bench" $(VENV_BENCH)/bin/python -m benchmarks.run --mode full

bench-short: $(BENCH_STAMP)
	@$(need_wrk)
	BENCH_COMMAND="make bench-short" $(VENV_BENCH)/bin/python -m benchmarks.run --mode short
