# A newcomer's entry points: `make demo` (the offline rehearsal) and `make test`.
# Each target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-all lint build bench day deploy clean iam-calls result-shapes soak mutation docs base-install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The base install alone (no extra) in an empty venv: the operator CLI must run without the
# rehearsal's dependencies (moto, Hypothesis, the SAM translator). .ci/run runs it.
BASE_VENV := .venv-base
base-install:
	rm -rf $(BASE_VENV)
	$(PYTHON) -m venv $(BASE_VENV)
	$(BASE_VENV)/bin/pip install --quiet --upgrade pip
	$(BASE_VENV)/bin/pip install --quiet .
	$(BASE_VENV)/bin/fleetwise-reconciler status --help >/dev/null
	$(BASE_VENV)/bin/fleetwise-reconciler plan --help >/dev/null
	@if $(BASE_VENV)/bin/python -c "import moto" 2>/dev/null; then \
		echo "base-install: moto is importable from the base install" >&2; exit 1; fi
	@echo "base-install: the CLI runs without the rehearsal extra"

demo: $(STAMP)
	$(BIN)/fleetwise-reconciler demo

test: $(STAMP)
	$(BIN)/pytest -n 2 -q

# The generated interleavings at length (at least 1,000 examples on two worker processes); the
# last line is `soak: <examples> examples, <steps> steps, <violations> violations`.
SOAK_EXAMPLES ?= 1000
soak: $(STAMP)
	$(BIN)/python -m fleetwise_rehearsal.properties.soak --examples $(SOAK_EXAMPLES) --workers 2

# Mutation testing (mutmut, the `mutation` extra, installed here only): would the unit and
# handler tests notice a change in the decisions, the FleetWise adapter or the data layer?
# Ends with `mutation: <killed>/<total> killed (<score>%)`; fails below 95%. Takes a while
# (every mutant runs the tests that reach it); MUTATION_JOBS mutants at once.
# `make mutation MUTATION_ARGS=--retest` tests again only what the last run did not detect
# (its survivors and whatever it had not reached: an interrupted run goes on), when the code
# under mutation is unchanged and tests were only added since.
MUTATION_STAMP := $(VENV)/.mutation-installed
MUTATION_JOBS ?= 2
MUTATION_ARGS ?=

$(MUTATION_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,mutation]'
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP)
	$(BIN)/python scripts/mutation.py --jobs $(MUTATION_JOBS) $(MUTATION_ARGS)

# One rehearsed registration's wall time beside a bare moto write, the poll schedule's cost in
# polls and notice latency, each handler's cold start as Lambda runs it (CPython 3.13 on a
# read-only copy of the built artifact, against a bare boto3 client), fleets of 1 to 1,000
# targets: wall and virtual times, calls and cost per target (no timed assertions anywhere:
# this only reports), and a day in the life of two stacks with every alarm watched every
# minute (its goals: the last line of its section). The cold starts measure `make build`'s
# artifact: when it is missing or stale (the package differs from src/, a pin, the bytecode),
# it is built first, so a stale one is never measured. FLEET_SIZES and FLEET_HOURS (of
# steady-state drift ticks) choose the fleets.
FLEET_SIZES ?= 1 10 100 1000
FLEET_HOURS ?= 2
bench: $(STAMP)
	$(BIN)/python bench/bench_rehearsal.py 2>/dev/null
	$(BIN)/python bench/bench_imports.py --check-fresh || $(MAKE) build
	$(BIN)/python bench/bench_imports.py
	$(BIN)/python bench/bench_fleet.py $(FLEET_SIZES) --hours $(FLEET_HOURS) 2>/dev/null
	$(BIN)/python bench/bench_alarms.py 2>/dev/null

# The full day in the life (24 virtual hours, two stacks) as a test of its goals: longer than
# the default suite's short day, so not in `make test`.
day: $(STAMP)
	$(BIN)/pytest -q -m day tests/e2e/test_day_in_the_life.py

# `sam build` offline: the SAM CLI lives in its own venv (it pins its own boto3 and pydantic),
# the layer and the functions are built by src/Makefile, and the artifacts are checked: the
# shared layer holds the runtime dependencies only, each function the Lambda package only.
# Each artifact's size is printed.
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
	$(PYTHON) scripts/check_artifact.py .aws-sam/build/DependenciesLayer .aws-sam/build/*Function

# Static checks, all offline: Python (ruff, mypy), the template (cfn-lint with the serverless
# rules, checkov, `sam validate --lint`), and the contract tests (tests/contracts): statelint on
# the state machine definition with its DefinitionSubstitutions applied, and every payload the
# template hands to an AWS API (dashboard, alarms, rules, schedule, asynchronous invocation,
# the workflow's JSONPaths) against AWS's documented rules, for every condition combination. checkov pins dozens of packages of its own, so it
# lives in its own venv like the SAM CLI. A finding is fixed, or suppressed next to the resource
# in template.yaml with the reason.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_VERSION := 3.3.30
PY_SOURCES := src tests scripts bench

$(CHECKOV):
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet checkov==$(CHECKOV_VERSION)

lint: $(STAMP) $(CHECKOV) $(SAM)
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)
	$(BIN)/mypy
	$(BIN)/mypy --strict scripts bench/bench_imports.py bench/bench_fleet.py bench/bench_alarms.py
	$(BIN)/cfn-lint template.yaml
	$(BIN)/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	$(BIN)/cfn-lint member/template.yaml
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f template.yaml
	$(CHECKOV) --quiet --compact --skip-download --framework cloudformation -f member/template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint --region $(SAM_REGION)
	$(BIN)/pytest -q -p no:cacheprovider tests/contracts

# The documentation generated from the template (docs/parameters.md and the other files
# scripts/docs_reference.py lists). tests/docs fails when one is stale.
docs: $(STAMP)
	$(BIN)/python scripts/docs_reference.py

# The AWS calls each Lambda handler makes during the whole suite, as IAM actions: the ledger
# tests/security/test_iam.py holds the template's grants against (.ci/run checks it is fresh).
iam-calls: $(STAMP)
	PYTHONPATH=tests/security $(BIN)/pytest -n 2 -q -p call_recorder \
		--record-aws-calls=tests/security/observed_calls.json

# The shape of every result and error each handler produced in its tests: the ledger the
# workflow's JSONPath check (tests/contracts/test_contract_statemachine_flow.py) reads
# (.ci/run checks it is fresh).
result-shapes: $(STAMP)
	PYTHONPATH=tests/handlers $(BIN)/pytest -n 2 -q -p result_recorder \
		--record-results=tests/handlers/result_shapes.json tests/handlers

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) $(BASE_VENV) mutants .aws-sam .pytest_cache .mypy_cache .ruff_cache
