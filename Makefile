# A newcomer's entry points: `make demo` (the offline rehearsal) and `make test`.
# Each target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all lint build bench deploy clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/fleetwise-reconciler demo

test: $(STAMP)
	$(BIN)/pytest -n 2 -q

# `sam build` offline: the SAM CLI lives in its own venv (it pins its own boto3 and pydantic),
# the functions are built by src/Makefile, and the artifact is checked to hold the Lambda
# package and its runtime dependencies only.
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_CLI_VERSION := 1.170.0
SAM_REGION ?= us-east-1

$(SAM):
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet aws-sam-cli==$(SAM_CLI_VERSION)

build: $(SAM)
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region $(SAM_REGION)
	SAM_CLI_TELEMETRY=0 $(SAM) build --region $(SAM_REGION)
	$(PYTHON) scripts/check_artifact.py .aws-sam/build/*Function

clean:
	rm -rf $(VENV) $(SAM_VENV) .aws-sam .pytest_cache .mypy_cache .ruff_cache
