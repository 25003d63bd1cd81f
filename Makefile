# Everyday commands. `make` or `make help` lists them.
# Docker verbs drive docker-compose.yml; the rest run on the host through uv.

.DEFAULT_GOAL := help
SHELL := /bin/bash
COMPOSE ?= docker compose

.PHONY: help up down logs train train-champion predict test test-quick lint format dvc-push dvc-pull \
	stack-up stack-down bench

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} \
		/^## --- / {sub(/^## --- /, ""); sub(/ -+$$/, ""); printf "\n%s\n", $$0} \
		/^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.env:
	cp .env.example .env
	@echo "Created .env from .env.example (development values)."

## --- Docker stack ---------------------------------------------------------------------------
up: .env ## Build and start the stack, wait until every service is healthy
	$(COMPOSE) up -d --build --wait

down: ## Stop the stack (keeps volumes; `docker compose down -v` drops them)
	$(COMPOSE) down

logs: ## Follow the stack's logs
	$(COMPOSE) logs -f

train: ## Train in the training container and register a challenger
	$(COMPOSE) exec training sentiment train

train-champion: ## Train, register and promote to champion if it beats the current one
	$(COMPOSE) exec training sentiment train --champion

predict: ## Classify a text with the champion model: make predict TEXT="A wonderful film"
	@test -n "$(TEXT)" || { echo 'usage: make predict TEXT="A wonderful film"' >&2; exit 2; }
	$(COMPOSE) exec training sentiment predict "$(TEXT)"

## --- Without Docker -------------------------------------------------------------------------
stack-up: ## Start PostgreSQL, S3, MLflow and Prefect as local processes (no Docker)
	uv run sentiment stack up

stack-down: ## Stop the local processes started by stack-up
	uv run sentiment stack down

## --- Development ----------------------------------------------------------------------------
test: ## Run the test suite (the same command as the README and CI)
	uv run pytest -n 2

test-quick: ## Run the quick tests on two workers: no slow ones, no stack (the inner loop)
	uv run pytest -n 2 -m "not slow and not stack"

lint: ## Check code style (ruff lint and format check)
	uv run ruff check .
	uv run ruff format --check .

format: ## Format the code and apply safe lint fixes
	uv run ruff format .
	uv run ruff check --fix .

bench: ## Run every benchmark in bench/ (each prints its numbers and a baseline)
	@shopt -s nullglob; files=(bench/[!_]*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "no benchmarks in bench/ yet"; exit 0; fi; \
	for f in "$${files[@]}"; do echo "== $$f"; uv run python "$$f" || exit 1; done

## --- Data (DVC, remote in the stack's MinIO bucket `dvc`) ------------------------------------
dvc-push: ## Push DVC-tracked data to the remote
	uv run dvc push

dvc-pull: ## Pull DVC-tracked data from the remote
	uv run dvc pull
