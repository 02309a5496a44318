# recsmith: `make demo` and `make test` do all set-up on a fresh machine. `make help` lists the targets.
PYTHON ?= python3.11
VENV ?= .venv
# Every dependency but torch, resolved once with hashes (Linux x86-64, Python 3.11); `make lock` re-resolves it.
LOCK ?= requirements.lock
# PyTorch is installed after the lock from TORCH_SPEC, found through TORCH_FIND_LINKS (default: pip's find-links,
# where this machine keeps a CPU build) or TORCH_INDEX_URL (e.g. https://download.pytorch.org/whl/cu128 for CUDA)
TORCH_SPEC ?= torch==2.13.0
TORCH_FIND_LINKS ?= $(PIP_FIND_LINKS)
TORCH_INDEX_URL ?=
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
export TORCH_SPEC TORCH_FIND_LINKS TORCH_INDEX_URL
RECSMITH_HOME ?= $(CURDIR)/.recsmith
export RECSMITH_HOME
AIRFLOW_HOME ?= $(RECSMITH_HOME)/airflow
export AIRFLOW_HOME
RECSMITH_DEMO_SERVE ?= 1
MLFLOW_PORT ?= 5000
AIRFLOW_PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: help install lock demo test lint pipelines pipeline-local mlflow-ui airflow-ui clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# uv itself comes from the lock, hash-checked, through the venv's own pip
$(UV):
	$(PYTHON) -m venv $(VENV)
	awk '/^uv==/ {keep = 1; print; next} keep && /^ / {print; next} {keep = 0}' $(LOCK) > $(VENV)/uv.lock.txt
	$(PY) -m pip install --quiet --no-deps --require-hashes -r $(VENV)/uv.lock.txt

# exactly the lock (sync removes anything else), then torch, then recsmith itself (editable, no dependencies);
# the image (infra/Dockerfile) runs the same script with the built wheel
$(VENV)/.installed: $(LOCK) pyproject.toml infra/install-from-lock.sh | $(UV)
	UV=$(UV) LOCK=$(LOCK) infra/install-from-lock.sh $(PY) -e .
	$(PY) scripts/check_lock.py $(LOCK)
	touch $@

install: $(VENV)/.installed ## create .venv and install exactly requirements.lock, torch and recsmith

# Keeps every pin that still fits pyproject.toml; LOCK_FLAGS=--upgrade takes the newest of everything,
# LOCK_FLAGS="--upgrade-package kfp" of one. torch takes part in the resolution (its dependencies are locked) but is
# not written: TORCH_SPEC installs it.
LOCK_FLAGS ?=
lock: | $(UV) ## re-resolve requirements.lock after a change to pyproject.toml (LOCK_FLAGS=--upgrade: newest)
	echo "$(TORCH_SPEC)" | $(UV) pip compile --quiet pyproject.toml - --extra test --generate-hashes $(LOCK_FLAGS) \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-emit-package torch \
		$(if $(TORCH_FIND_LINKS),--find-links $(TORCH_FIND_LINKS)) \
		$(if $(TORCH_INDEX_URL),--extra-index-url $(TORCH_INDEX_URL)) \
		--custom-compile-command "make lock" -o $(LOCK)

demo: install ## run the whole workflow on a generated sample, then serve the campaign (RECSMITH_DEMO_SERVE=0 exits)
	$(PY) scripts/demo.py $(if $(filter 0,$(RECSMITH_DEMO_SERVE)),--no-serve,--serve)

test: install ## run the test suite
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check src models dags components serving orchestration scripts tests
	$(VENV)/bin/mypy

pipelines: install ## compile the Kubeflow pipeline to components/recsmith_pipeline.yaml
	$(PY) -m components.compile

pipeline-local: install ## run the Kubeflow pipeline here with kfp.local on the demo's sample (stores: RECSMITH_HOME)
	$(PY) -m components.run_local

mlflow-ui: install ## open the MLflow UI on the store the demo wrote
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(RECSMITH_HOME)/mlflow.db --port $(MLFLOW_PORT)

# 127.0.0.1 only; tasks reach the execution API on the same port (Airflow's default address is port 8080)
airflow-ui: install ## run `airflow standalone` on 127.0.0.1:$(AIRFLOW_PORT) over the DAGs and the demo's stores
	@echo "Airflow UI: http://127.0.0.1:$(AIRFLOW_PORT)  user admin, password in" \
		"$(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated (written at the first start)"
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$(AIRFLOW_PORT)/execution/ \
	AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY=30 AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT=30 \
	AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$(AIRFLOW_HOME)/airflow.db \
	$(VENV)/bin/airflow standalone

clean: ## remove the demo's stores (.recsmith); keeps .venv
	rm -rf $(RECSMITH_HOME)
