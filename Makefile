# Entry points of the image-similarity pipeline. `make` (or `make help`) lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
DVC    := $(VENV)/bin/dvc
STAMP  := $(VENV)/.installed-requirements
# Stage commands in dvc.yaml say `python`: make it the venv's, with no activation needed.
export PATH := $(abspath $(VENV))/bin:$(PATH)

WEIGHTS ?=
COMPOSE := docker compose -f database/docker-compose.yml
DB_URL  ?= http://127.0.0.1:6333
# one clear line instead of Docker's own error when no engine runs here
NEED_DOCKER = @docker info >/dev/null 2>&1 || { echo "$@: no Docker engine is running on this machine (docker info failed); start Docker, or keep qdrant.url empty to use the embedded store" >&2; exit 1; }

.PHONY: help install sample all test compare search bench push pull pull-vectors clean clean-cache clean-sample db-up db-down db-status db-logs

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

all: $(STAMP) ## run the whole pipeline (dvc repro); WEIGHTS=random|imagenet|<file> sets embed.weights
ifneq ($(strip $(WEIGHTS)),)
	$(PY) -m tools.set_params embed.weights=$(WEIGHTS)
endif
	$(PY) -m tools.sample --if-used
	@if [ -n "$$($(PY) -m tools.qdrant_db local-server)" ]; then $(MAKE) --no-print-directory db-up; fi
	@$(PY) -m tools.store_check || $(DVC) repro --single-item --force ingest
	@if $(PY) -m tools.images_present; then set -x; $(DVC) repro; \
	  else echo "no images here (data.images): running only what is missing downstream of embed"; \
	  set -x; $(DVC) repro --allow-missing && $(PY) -m tools.repro_downstream; fi

compare: $(STAMP) ## compare neighbour lists: make compare A=<rev|experiment|workspace> B=<...> [K=10]
	@test -n "$(A)" -a -n "$(B)" || { echo "usage: make compare A=<rev or experiment> B=<rev, experiment or workspace>" >&2; exit 2; }
	$(PY) -m tools.compare "$(A)" "$(B)" --k $(or $(K),10)

search: $(STAMP) ## find an outside image in the collection: make search IMAGE=<file or folder> [LIMIT=10] [JSON=1]
	@test -n "$(IMAGE)" || { echo "usage: make search IMAGE=<file or folder> [LIMIT=10] [JSON=1]" >&2; exit 2; }
	@$(PY) -m tools.search "$(IMAGE)" --limit $(or $(LIMIT),10) $(if $(JSON),--json)

bench: $(STAMP) ## measure every stage against its baseline (QUICK=1: tiny, SCALE=N: scale run only)
	$(PY) -m tools.bench $(if $(QUICK),--quick) $(if $(SCALE),--scale $(SCALE))

test: $(STAMP) ## run the test suite (pytest)
	$(PY) -m pytest

db-up: $(STAMP) ## start the Qdrant server (database/docker-compose.yml) and wait until it is ready
	$(NEED_DOCKER)
	@if [ -n "$$QDRANT_API_KEY" ]; then export QDRANT__SERVICE__API_KEY="$$QDRANT_API_KEY"; fi; \
	  $(COMPOSE) up -d
	$(PY) -m tools.qdrant_db wait $(DB_URL) --timeout 90

db-down: ## stop the Qdrant server (its data stays in the volume)
	$(NEED_DOCKER)
	$(COMPOSE) down

db-status: ## show whether the Qdrant server runs and is healthy
	$(NEED_DOCKER)
	$(COMPOSE) ps

db-logs: ## show the Qdrant server's logs
	$(NEED_DOCKER)
	$(COMPOSE) logs --tail 200 qdrant

push: $(STAMP) ## push every pipeline output to the default DVC remote
	$(DVC) push

pull: $(STAMP) ## pull every pipeline output from the default DVC remote
	$(DVC) pull --allow-missing

pull-vectors: $(STAMP) ## pull only what the query side needs: vectors, PCA model, image index
	$(DVC) pull $$($(PY) -m tools.query_side_paths)

clean: ## remove pipeline outputs (not the sample, not the venv, not the embed cache)
	rm -rf data/embeddings/* data/reduced/* data/vectors/* data/ingest/* data/neighbours/* \
	  data/qdrant data/preview metrics/*.json plots/*.csv reports

clean-cache: ## remove the per-image embedding cache (.cache/embed)
	rm -rf .cache/embed

clean-sample: ## remove the generated sample collection
	rm -rf data/sample
