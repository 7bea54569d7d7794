# Checks for template.yaml (issue 4). checkov pins an old boto3, so it lives in its own
# virtualenv instead of the project's.
PYTHON ?= .venv/bin/python
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30

.PHONY: lint test cfn-lint checkov

lint: cfn-lint checkov
	$(PYTHON) -m ruff check src tests

test: cfn-lint checkov
	$(PYTHON) -m pytest -q tests

cfn-lint:
	$(dir $(PYTHON))cfn-lint template.yaml

$(CHECKOV_VENV)/bin/checkov:
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)

# Skipped checks and why: .checkov.yaml and docs/operations.md.
checkov: $(CHECKOV_VENV)/bin/checkov
	$(CHECKOV_VENV)/bin/checkov --skip-download --quiet --compact --config-file .checkov.yaml -f template.yaml
