# memos-auth: local development without Docker or an AWS account (SPEC §6).
#
#   make run                  serve the API on http://127.0.0.1:${PORT:-3000}, data kept in .devstack/
#   make run FRESH=1          the same, starting empty (forgets .devstack/'s users and keys)
#   make run LOGS=json        the handlers' JSON logs instead of a line per request
#   make run MEMOS_DEMO=true  variables given to make reach the handlers
#   make invoke FN=AuthorizerFunction EVENT=events/<file>.json
#   make test                 lint, static security checks, then every test (needs Java and npm)
#   make screenshots          README's screenshots (docs/screenshots), drawn by the browser tests
#   make bench                what each credential path costs (writes bench/results.json)
#   make import-memos DB=memos_prod.db [DRY_RUN=1]   bring a Memos database into the running `make run`
#   make bench-pages          GET /api/v1/users with 10,000 users (into bench/results.json)
#   make bench-import         a Memos import of 10,000 users with 2 PATs each (into bench/results.json)
#   make load                 Locust, 50 clients for 2 min, steady then DynamoDB paused (bench/load.json)
#   make load LOAD_QUICK=1    the same in a few seconds with 5 clients (a smoke run)
#
# `make run` needs only python3; npm and Java add AWS's DynamoDB Local (moto's server
# stands in for DynamoDB without them, and says so). `make test` needs them both.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
VENV_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# checkov pins an old boto3, so it lives in a virtualenv of its own.
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
# --no-loadscope-reorder: xdist would hand out the files with the most tests first, which
# leaves the one-test files that run longest (the load smoke, the fuzz, the restarts) for the
# end; in collection order (tests/conftest.py puts those first) make test took 6:32, not 6:56.
# Three workers on two cores: a third of the run waits on stacks, browsers and pauses, so a
# third worker fills the idle core (tests 4:38 where two took 5:29, and 6:16 with a busy loop
# holding one of the two cores the whole run).
PYTEST_ARGS ?= -q -n 3 --dist loadfile --no-loadscope-reorder
# What `make run` keeps between runs: DynamoDB Local's database and the secrets' values.
DATA_DIR := .devstack

# DynamoDB Local needs both npm (to fetch it) and Java (to run it); without either,
# there is nothing worth installing and devstack falls back to moto.
HAVE_NPM := $(shell command -v npm >/dev/null 2>&1 && echo yes)
HAVE_JAVA := $(shell command -v java >/dev/null 2>&1 && echo yes)
NEED_JAVA := Java 17 or later runs DynamoDB Local: on Debian/Ubuntu, sudo apt-get install -y openjdk-17-jre-headless
NEED_NPM := npm (Node 18.2 or later) installs DynamoDB Local: on Debian/Ubuntu, sudo apt-get install -y nodejs npm

.PHONY: help deps test-deps installs java chromium .venv node_modules run invoke import-memos lint checkov audit test screenshots bench bench-pages bench-import load clean distclean

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

# Reinstalled only when a requirements file changes. pip brings uv, and uv installs the pinned
# requirements: on a fresh clone about 20 s where pip alone took 75 (uv resolves, fetches and
# compiles in parallel). Compiled at install, as pip does: where PYTHONDONTWRITEBYTECODE is
# set, nothing else would write the bytecode, and each of the many processes a test run
# starts (stacks, workers, moto) would compile boto3 and the rest again (about 0.7 s each).
# The venv keeps its pip for pip-audit, which asks it what is installed.
$(VENV_STAMP): requirements-dev.txt src/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(UV) pip install --quiet --compile-bytecode --python $(PY) -r requirements-dev.txt
	@touch $@

.venv: $(VENV_STAMP)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm not found. $(NEED_NPM)"; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

node_modules: $(NODE_STAMP)

# For `make run`: DynamoDB Local if it can be had, else devstack says it uses moto.
deps: $(VENV_STAMP)
ifeq ($(HAVE_NPM)$(HAVE_JAVA),yesyes)
	@$(MAKE) --no-print-directory -s $(NODE_STAMP) || echo "npm ci failed: moto's server will stand in for DynamoDB"
else ifneq ($(HAVE_NPM),yes)
	@echo "npm not found: DynamoDB Local cannot be installed; moto's server is used for DynamoDB"
endif

# For `make test`: the end-to-end tests run on DynamoDB Local, never quietly on moto, so
# a missing Java or npm stops here with what to install.
java:
	@command -v java >/dev/null 2>&1 || { echo "java not found. $(NEED_JAVA)"; exit 1; }

# The account pages' browser tests (tests/browser) drive a real headless Chromium through
# Playwright, whose own browser download cannot work here: Debian's chromium package stands
# in, installed with apt-get (as root, else through sudo) when it is missing.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "chromium not found: installing Debian's chromium package for the browser tests (apt-get install -y chromium)"; \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The installs do not depend on each other (two virtualenvs, npm, Debian's chromium), so they
# are made side by side: a fresh clone's first `make test` spends about a minute less on them.
test-deps: java
	@$(MAKE) --no-print-directory -j4 installs

installs: $(VENV_STAMP) $(CHECKOV_VENV)/bin/checkov $(NODE_STAMP) chromium
	@:

# The ready file names the running stack's endpoints and tables, for `make import-memos`.
run: deps
	$(PY) -m devstack --data-dir $(DATA_DIR) --ready-file $(DATA_DIR)/stack.json$(if $(filter 1 yes true,$(FRESH)), --fresh)$(if $(LOGS), --logs $(LOGS))

# Into the stack `make run` serves; against a deployed stack, see README "Moving from Memos".
import-memos: $(VENV_STAMP)
	@if [ -z "$(DB)" ]; then echo "usage: make import-memos DB=path/to/memos_prod.db [DRY_RUN=1]"; exit 2; fi
	PYTHONPATH=src:. $(PY) -m tools.memos_import --db "$(DB)" --stack-file $(DATA_DIR)/stack.json --audit-log $(DATA_DIR)/memos-import-audit.jsonl$(if $(filter 1 yes true,$(DRY_RUN)), --dry-run)

invoke: deps
	@if [ -z "$(FN)" ] || [ -z "$(EVENT)" ]; then \
		echo "usage: make invoke FN=AuthorizerFunction EVENT=events/<file>.json"; exit 2; fi
	MEMOS_DEMO=$${MEMOS_DEMO:-true} $(PY) -m devstack.invoke "$(FN)" "$(EVENT)"

lint: $(VENV_STAMP) checkov
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/cfn-lint template.yaml

$(CHECKOV_VENV)/bin/checkov: | $(VENV_STAMP)
	$(PYTHON) -m venv --without-pip $(CHECKOV_VENV)
	$(UV) pip install --quiet --python $(CHECKOV_VENV)/bin/python checkov==$(CHECKOV_VERSION)

# Skipped checks and why: .checkov.yaml and docs/operations.md.
checkov: $(CHECKOV_VENV)/bin/checkov
	$(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact --config-file .checkov.yaml -f template.yaml

# No medium or high bandit finding in any of our code (not in the virtualenvs `make bench`
# makes under bench/); pip-audit over the installed (pinned) dependencies, skipped with a
# message when its vulnerability database is unreachable.
audit: $(VENV_STAMP)
	$(VENV)/bin/bandit -q -ll -r src devstack bench tools tests -x '*/.venv*'
	$(PY) tools/audit_dependencies.py

# The static checks run beside the tests, not before them, at the lowest priority: the tests
# leave some of two cores idle (stacks starting, pages loading, waits), which is more than
# the checks need, and at an equal priority mypy would take its core from them.
# Their output is kept until the tests are done, so that it does not break pytest's lines;
# the run fails if either fails. setsid gives the checks a process group of their own, so
# that an interrupted run stops them too.
# DEVSTACK_REQUIRE_DYNAMODB_LOCAL: a stack that cannot run DynamoDB Local fails to start
# and says why, instead of falling back to moto.
test: test-deps
	@checks_log=$$(mktemp); \
	setsid nice -n 19 $(MAKE) --no-print-directory lint audit >"$$checks_log" 2>&1 & checks=$$!; \
	trap 'kill -- -$$checks 2>/dev/null; rm -f "$$checks_log"' EXIT; \
	DEVSTACK_REQUIRE_DYNAMODB_LOCAL=1 $(PY) -m pytest $(PYTEST_ARGS); tests=$$?; \
	wait $$checks; checked=$$?; \
	echo "--- lint and audit (make lint audit): $$([ $$checked -eq 0 ] && echo passed || echo FAILED)"; \
	cat "$$checks_log"; \
	[ $$tests -eq 0 ] && [ $$checked -eq 0 ]

# README's screenshots (docs/screenshots), made again by the browser tests that draw them.
screenshots: test-deps
	UPDATE_SCREENSHOTS=1 DEVSTACK_REQUIRE_DYNAMODB_LOCAL=1 $(PY) -m pytest -q tests/browser/test_account_pages.py

clean:
	rm -rf .devstack .pytest_cache .ruff_cache .mypy_cache .hypothesis .aws-sam
	find . -path ./$(VENV) -prune -o -path ./node_modules -prune -o \
		-name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(CHECKOV_VENV) node_modules

# `make bench`: what one request costs on each credential path (not part of `make test`).
# Cold start and memory are measured in a virtualenv holding only what `sam build` packages
# (src/requirements.txt) plus boto3, which the Lambda runtime provides.
# The authorizer's is measured in one of its own, holding what its package holds
# (src/requirements-authorizer.txt: no cryptography, which PyJWT would import if present).
LAMBDA_VENV := bench/.venv-lambda
LAMBDA_AUTHORIZER_VENV := bench/.venv-lambda-authorizer

$(LAMBDA_VENV)/installed: src/requirements.txt requirements-dev.txt
	$(PYTHON) -m venv --clear $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/pip install --quiet -r src/requirements.txt $$(grep "^boto3==" requirements-dev.txt)
	touch $@

$(LAMBDA_AUTHORIZER_VENV)/installed: src/requirements-authorizer.txt requirements-dev.txt
	$(PYTHON) -m venv --clear $(LAMBDA_AUTHORIZER_VENV)
	$(LAMBDA_AUTHORIZER_VENV)/bin/pip install --quiet -r src/requirements-authorizer.txt $$(grep "^boto3==" requirements-dev.txt)
	touch $@

bench: $(VENV_STAMP) $(LAMBDA_VENV)/installed $(LAMBDA_AUTHORIZER_VENV)/installed
	PYTHONPATH=src:. $(PY) -m bench

bench-pages: test-deps
	DEVSTACK_REQUIRE_DYNAMODB_LOCAL=1 PYTHONPATH=src:. $(PY) -m bench.user_pages

bench-import: test-deps
	DEVSTACK_REQUIRE_DYNAMODB_LOCAL=1 PYTHONPATH=src:. $(PY) -m bench.memos_import

# `make load`: bench/load (Locust as a library) against a local stack of its own, on DynamoDB
# Local, which the paused scenario freezes. LOAD_SECONDS, LOAD_USERS and LOAD_PAUSE_SECONDS
# (120, 50, 10) set each scenario's length, its clients and the pause. Exits 1 if a check fails.
load: test-deps
	DEVSTACK_REQUIRE_DYNAMODB_LOCAL=1 PYTHONPATH=src:. $(PY) -m bench.load$(if $(filter 1 yes true,$(LOAD_QUICK)), --quick --out .devstack/load-quick.json)
