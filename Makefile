# Everything a fresh machine (Python 3.11 + Node 20) needs is installed by these targets.
# Usage: make synth ENV=prod ENDPOINT_TYPE=realtime

ENV ?= dev
ENDPOINT_TYPE ?= default
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov
PY := $(VENV)/bin/python
CDK := node_modules/.bin/cdk
CDK_FLAGS := -c env=$(ENV) -c endpoint_type=$(ENDPOINT_TYPE)
PYTEST_WORKERS ?= 2
PORT ?= 8080
ENVIRONMENTS := $(basename $(notdir $(wildcard endpoint_configs/*.yaml)))
LOCAL_AWS_PORT ?= 4566
# torch is installed first and alone, pinned (pyproject's "ml" group has the same pin): pulled in
# unpinned by another package it would be a CUDA build of several GB.
TORCH_PIN := $(shell grep -o '"torch==[^"]*"' pyproject.toml | tr -d '"')

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_CLI_NOTICES := false
# The pinned CLI runs on Node 20 (this project's CI); its AWS SDK warns that releases after January
# 2027 will need Node 22. Re-pin on Node 22 when moving to a CLI released after that.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED := true
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help install synth validate validate-env test lint schema catalogs deploy diff bench clean checkov-lock package upload serve-local optimize-report \
	local-aws local-aws-stop deploy-local destroy-local destroy invoke batch-run restore advise

help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet '$(TORCH_PIN)'
	$(PY) -m pip install --quiet -e '.[dev,ml]'
	touch $@

$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements/checkov.txt
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The three installs share nothing, so they run side by side (most of their time is downloads).
install:  ## venvs + pinned CDK CLI
	@$(MAKE) --no-print-directory -j3 $(VENV)/.installed $(CHECKOV_VENV)/.installed node_modules/.installed

ENDPOINT_TYPE_FLAG = $(if $(filter-out default,$(ENDPOINT_TYPE)),--endpoint-type $(ENDPOINT_TYPE))

validate: $(VENV)/.installed  ## validate every endpoint_configs/*.yaml, or only ENV's when ENV= is given
	$(PY) -m endpoint_configs validate $(if $(filter command line environment,$(origin ENV)),--env $(ENV)) $(ENDPOINT_TYPE_FLAG)

validate-env: $(VENV)/.installed  # what synth and deploy check first: ENV's file and artifact
	$(PY) -m endpoint_configs validate --env $(ENV) $(ENDPOINT_TYPE_FLAG)

synth: $(VENV)/.installed node_modules/.installed validate-env  ## cdk synth ENV= ENDPOINT_TYPE=
	$(CDK) synth --quiet $(CDK_FLAGS)
	@echo "templates in cdk.out/"

diff: install validate-env  ## cdk diff against the real AWS account in your credentials
	$(CDK) diff $(CDK_FLAGS)

deploy: install validate-env  ## cdk deploy to the real AWS account in your credentials
	$(CDK) deploy --all --require-approval broadening $(CDK_FLAGS)

schema: $(VENV)/.installed  ## regenerate endpoint_configs/schema.json
	$(PY) -m endpoint_configs schema

catalogs: $(VENV)/.installed  ## regenerate endpoint_configs/{image_uris,service_tables}.json from the pinned SDKs
	$(PY) -m endpoint_configs catalogs

# mypy (about 45 s cold) runs beside `validate`, which builds every environment's artifact once,
# four environments at a time (ONNX export, Neo trace, vendored wheels: much of it waits on the
# package index; the test workers would otherwise build them twice at once), then beside pytest; its report is shown only when it fails, so pytest's summary
# stays the last line.
test: install  ## lint, schema check, every config and artifact, and the whole pytest suite
	$(PY) -m endpoint_configs schema --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@echo "mypy --strict runs beside the artifact builds and the tests"; \
	$(VENV)/bin/mypy . > .mypy.log 2>&1 & mypy=$$!; \
	if ! printf '%s\n' $(ENVIRONMENTS) | xargs -P 4 -I{} $(PY) -m endpoint_configs validate --env {}; then \
		kill $$mypy 2>/dev/null; exit 1; fi; \
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile; tests=$$?; \
	if ! wait $$mypy; then cat .mypy.log; echo "mypy failed"; exit 1; fi; \
	exit $$tests

lint: $(VENV)/.installed  ## ruff + mypy --strict
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

deploy-local: install validate-env  ## deploy ENV/ENDPOINT_TYPE to a local AWS (no account needed) and call it
	$(PY) -m local_aws start --detach --port $(LOCAL_AWS_PORT)
	$(PY) -m local_aws deploy --env $(ENV) --endpoint-type $(ENDPOINT_TYPE)

# BODY and FILE reach the command through the environment ("$$BODY"), so any quotes in them survive.
invoke: $(VENV)/.installed  ## call ENV/ENDPOINT_TYPE's deployed endpoint: BODY='{"inputs": ["hi"]}' or FILE=; LOCAL=1: the local AWS
	$(PY) -m endpoint_client invoke --env $(ENV) $(if $(FILE),--file "$$FILE",--body "$$BODY") $(strip \
		$(ENDPOINT_TYPE_FLAG) $(if $(CONTENT_TYPE),--content-type "$(CONTENT_TYPE)") \
		$(if $(ACCEPT),--accept "$(ACCEPT)") $(if $(TIMEOUT),--timeout $(TIMEOUT)) \
		$(if $(filter 1,$(LOCAL)),--local-aws))

batch-run: $(VENV)/.installed  ## start ENV's batch job by hand and print its execution ARN; WAIT=1: wait for it (TIMEOUT=); LOCAL=1: the local AWS
	$(PY) -m endpoint_client batch-run --env $(ENV) $(strip $(ENDPOINT_TYPE_FLAG) \
		$(if $(filter 1,$(WAIT)),--wait) $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(filter 1,$(LOCAL)),--local-aws))

restore: $(VENV)/.installed  ## bring back ENV/ENDPOINT_TYPE's endpoint the idle guard deleted (its config stays); LOCAL=1: the local AWS
	$(PY) -m endpoint_client restore --env $(ENV) $(strip $(ENDPOINT_TYPE_FLAG) $(if $(filter 1,$(LOCAL)),--local-aws))

destroy-local: $(VENV)/.installed  ## delete every stack of ENV from the local AWS, then stop it
	$(PY) -m local_aws destroy --env $(ENV)
	$(PY) -m local_aws stop

# Each kind's stack is destroyed with the app synthesized for that kind, then the stateful stack,
# whose exports the workload stacks import. cdk asks before each deletion.
destroy: install validate-env  ## cdk destroy every stack of ENV in the real AWS account, stateful last; asks first
	@echo "warning: this deletes the $(ENV) stacks in the AWS account of your credentials (cdk asks before each)"
	@set -e; for kind in $$($(PY) -m endpoint_configs kinds --env $(ENV)); do \
		$(CDK) destroy -c env=$(ENV) -c endpoint_type=$$kind "*-$(ENV)-$$kind"; \
	done
	$(CDK) destroy --exclusively -c env=$(ENV) "*-$(ENV)-stateful"

local-aws: $(VENV)/.installed  ## run the local AWS in the foreground on 127.0.0.1:LOCAL_AWS_PORT
	$(PY) -m local_aws start --port $(LOCAL_AWS_PORT)

local-aws-stop: $(VENV)/.installed  ## stop a background local AWS
	$(PY) -m local_aws stop

package: $(VENV)/.installed  ## build ENV's model artifact into build/artifacts/
	$(PY) -m model_packaging build --env $(ENV)

optimize-report: $(VENV)/.installed  ## build ENV's optimized artifact, then measure fp32/int8 torch and ONNX (JSON=1 for JSON)
	$(PY) -m model_packaging optimize --env $(ENV) --report $(if $(filter 1,$(JSON)),--json)

upload: $(VENV)/.installed  ## build ENV's artifact and upload it to ENV's deployed artifact bucket
	$(PY) -m model_packaging upload "$$($(PY) -m model_packaging build --env $(ENV) --print-path)" --env $(ENV)

serve-local: $(VENV)/.installed  ## serve ENV's artifact through the container contract on 127.0.0.1:PORT
	$(PY) -m local_serving --artifact "$$($(PY) -m model_packaging build --env $(ENV) --print-path)" --port $(PORT)

advise: $(VENV)/.installed  ## cost advice for ENV's model and traffic (JSON=1, PLOT=file.png)
	$(PY) -m cost_advisor advise --env $(ENV) $(if $(filter 1,$(JSON)),--json) $(if $(PLOT),--plot $(PLOT))

bench: install  ## benchmarks (print ratios; not part of test)
	$(PY) -m benchmarks.synth
	$(PY) -m benchmarks.synth_cli
	$(PY) -m benchmarks.packaging
	$(PY) -m benchmarks.compression
	$(PY) -m benchmarks.deploy_local

checkov-lock:  ## re-pin checkov's own venv
	{ head -2 requirements/checkov.txt; $(CHECKOV_VENV)/bin/python -m pip freeze; } > requirements/checkov.tmp
	mv requirements/checkov.tmp requirements/checkov.txt

clean:  ## remove generated output (keeps venvs)
	rm -rf cdk.out build .local-aws .pytest_cache .mypy_cache .ruff_cache
