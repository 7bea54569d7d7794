# `make bench` (issue 6): what one request costs on each credential path. Not part of `make test`.
PYTHON ?= .venv/bin/python
LAMBDA_VENV := bench/.venv-lambda

.PHONY: bench

# Only what `sam build` packages (src/requirements.txt) plus boto3, which the Lambda runtime
# provides: cold start and memory are measured in this virtualenv, not in the dev one.
$(LAMBDA_VENV)/installed: src/requirements.txt requirements-dev.txt
	$(PYTHON) -m venv --clear $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/pip install --quiet -r src/requirements.txt $$(grep "^boto3==" requirements-dev.txt)
	touch $@

bench: $(LAMBDA_VENV)/installed
	PYTHONPATH=src:. $(PYTHON) -m bench
