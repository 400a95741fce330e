# Entry points of the image-similarity pipeline. `make` (or `make help`) lists them.
# Each target is one line: what it decides lives in Python (tools/make_all.py and friends).
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-requirements
# tests keep compiled modules (__pycache__, ignored by git) even where the shell asks Python
# not to write them: each test process would compile the library and the tests again
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(PY)
# Stage commands in dvc.yaml say `python`: make it the venv's, with no activation needed.
export PATH := $(abspath $(VENV))/bin:$(PATH)

# Values users pass (make search IMAGE=...) reach the shell only single-quoted by make itself,
# never expanded by make or pasted into the command: `$(call arg,IMAGE)`. They are not
# exported either, since make expands a variable it exports.
USER_VARS := IMAGE LIMIT JSON REGION A B K WEIGHTS MODEL DB_URL QUICK SCALE PIPELINE GROUP
unexport $(USER_VARS)
arg = '$(subst ','\'',$(value $(1)))'

.PHONY: help install sample all lint test test-fast compare metrics plots search bench view push pull pull-vectors clean \
        clean-cache clean-sample db-up db-down db-status db-logs

help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install requirements.txt (skipped when up to date)

sample: $(STAMP) ## build the sample collection under data/sample (deterministic, offline)
	$(PY) -m tools.sample

all: $(STAMP) ## run the whole pipeline; WEIGHTS=random|imagenet|<file>, MODEL=<name> set embed.* first
	$(PY) -m tools.pipeline all --weights=$(call arg,WEIGHTS) --model=$(call arg,MODEL)

compare: $(STAMP) ## compare neighbour lists: make compare A=<rev|experiment|workspace> B=<...> [K=10]
	$(PY) -m tools.compare --k=$(if $(value K),$(call arg,K),10) -- $(call arg,A) $(call arg,B)

metrics: $(STAMP) ## the main figures, narrow: make metrics [A=<rev|experiment>] [B=<...>] (default: the workspace)
	@$(PY) -m tools.metrics -- $(call arg,A) $(call arg,B)

plots: $(STAMP) ## dvc.yaml's plots in reports/plots.html, offline: make plots [A=<rev|experiment>] [B=<...>]
	@$(PY) -m tools.plots -- $(call arg,A) $(call arg,B)

search: $(STAMP) ## find an outside image in the collection, verified: make search IMAGE=<file or folder> [LIMIT=10] [JSON=1] [REGION=x,y,w,h]
	@$(PY) -m tools.search --limit=$(if $(value LIMIT),$(call arg,LIMIT),10) $(if $(value JSON),--json) $(if $(value REGION),--region=$(call arg,REGION)) -- $(call arg,IMAGE)

bench: $(STAMP) ## measure every stage against its baseline (QUICK=1: tiny, SCALE=N: scale run only, PIPELINE=N: every stage on N scans)
	$(PY) -m tools.bench $(if $(value QUICK),--quick) $(if $(value SCALE),--scale=$(call arg,SCALE)) $(if $(value PIPELINE),--pipeline=$(call arg,PIPELINE))

view: $(STAMP) ## open the groups in Mirador on 127.0.0.1 (installs mirador from npm once; needs node) [GROUP=<name>]
	$(PY) -m tools.view serve $(if $(value GROUP),--group=$(call arg,GROUP))

lint: $(STAMP) ## check style and formatting (ruff check, ruff format --check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: $(STAMP) ## run the test suite (pytest)
	$(PYTEST) -m pytest

test-fast: $(STAMP) ## the loop while changing code: no whole pipeline, no make or process per case
	$(PYTEST) -m pytest -m "not e2e and not slow" -p no:cacheprovider -n auto --dist worksteal

db-up: $(STAMP) ## start the Qdrant server (database/docker-compose.yml) and wait until it is ready
	$(PY) -m tools.pipeline db up --url=$(call arg,DB_URL)

db-down: $(STAMP) ## stop the Qdrant server (its data stays in the volume)
	$(PY) -m tools.pipeline db down

db-status: $(STAMP) ## show whether the Qdrant server runs and is healthy
	$(PY) -m tools.pipeline db status

db-logs: $(STAMP) ## show the Qdrant server's logs
	$(PY) -m tools.pipeline db logs

push: $(STAMP) ## push every pipeline output to the default DVC remote
	$(VENV)/bin/dvc push

pull: $(STAMP) ## pull every pipeline output from the default DVC remote
	$(VENV)/bin/dvc pull --allow-missing

pull-vectors: $(STAMP) ## pull only what the query side needs: vectors, PCA model, image index
	$(PY) -m tools.pipeline pull-vectors

clean: $(STAMP) ## remove pipeline outputs where paths.* puts them, data/fetched and .cache/fetch included (not the sample, the venv, the embed and feature caches)
	$(PY) -m tools.clean

clean-cache: ## remove the per-image caches (.cache/embed, .cache/features)
	rm -rf .cache/embed .cache/features

clean-sample: ## remove the generated sample collection
	rm -rf data/sample
