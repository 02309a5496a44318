# recsmith: `make demo` and `make test` do all set-up on a fresh machine. `make help` lists the targets.
PYTHON ?= python3.11
VENV ?= .venv
# a CPU build of PyTorch is on this machine's disk; override for a CUDA build, e.g. TORCH_SPEC="torch==2.13.0"
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
RECSMITH_HOME ?= $(CURDIR)/.recsmith
export RECSMITH_HOME
AIRFLOW_HOME ?= $(RECSMITH_HOME)/airflow
export AIRFLOW_HOME
RECSMITH_DEMO_SERVE ?= 1
MLFLOW_PORT ?= 5000
AIRFLOW_PORT ?= 8080
PYTEST_ARGS ?=

.PHONY: help install demo test lint pipelines mlflow-ui airflow-ui clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed ## create .venv and install recsmith with what tests need

demo: install ## run the whole workflow on a generated sample, then serve the campaign (RECSMITH_DEMO_SERVE=0 exits)
	$(PY) scripts/demo.py $(if $(filter 0,$(RECSMITH_DEMO_SERVE)),--no-serve,--serve)

test: install ## run the test suite
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check src models dags components serving orchestration scripts tests
	$(VENV)/bin/mypy

pipelines: install ## compile the Kubeflow pipeline to components/recsmith_pipeline.yaml
	$(PY) components/compile.py

mlflow-ui: install ## open the MLflow UI on the store the demo wrote
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///$(RECSMITH_HOME)/mlflow.db --port $(MLFLOW_PORT)

airflow-ui: install ## run `airflow standalone` on the DAGs and the store the demo wrote
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$(AIRFLOW_HOME)/airflow.db \
	$(VENV)/bin/airflow standalone

clean: ## remove the demo's stores (.recsmith); keeps .venv
	rm -rf $(RECSMITH_HOME)
