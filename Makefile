# ml-devenv: `make demo` (the main job) and `make test` (every test). `make help` lists the rest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo
# In CI a Docker-marked test that cannot reach an engine fails instead of skipping.
PYTEST_FLAGS ?= $(if $(CI),--require-docker,)
KIT_OVERRIDES := tests/e2e/images/overrides.env

.PHONY: help engine install docs lint test unit template e2e e2e-images bench-cli bench-serving bench-images bench-mlflow-login bench-backup bench-pins relock demo demo-down clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed ## make .venv with the CLI and the dev tools

docs: install ## regenerate docs/cli.md's command and exit-code tables from the CLI
	$(BIN)/python -m devenv.cli.reference docs/cli.md

lint: install ## ruff, formatting, mypy and the import contracts (layers, one door per outside world)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint ## every test: unit, template matrix and linters, end-to-end on a real engine
	$(BIN)/pytest $(PYTEST_FLAGS) --durations=10 tests

unit: install ## only the fast tests (no Docker engine needed)
	$(BIN)/pytest tests/unit tests/template tests/canary

e2e: install ## only the end-to-end tests (Docker engine needed)
	$(BIN)/pytest $(PYTEST_FLAGS) tests/e2e

e2e-images: install ## build the offline image kit and write its overrides.env (cached)
	$(BIN)/python tests/e2e/images/kit.py

bench-cli: install ## devenv up vs docker compose up on a warm stack; --help and status times
	$(BIN)/python tests/benchmarks/bench_cli.py

bench-serving: install ## serving latency and throughput against `mlflow models serve`, same model
	$(BIN)/python tests/benchmarks/bench_serving.py

bench-images: install ## image sizes, cold builds and code-edit rebuilds against naive Dockerfiles
	$(BIN)/python tests/benchmarks/bench_images.py

bench-mlflow-login: install ## MLflow API calls without its login, with it uncached, and as the template sets it
	$(BIN)/python tests/benchmarks/bench_mlflow_login.py

bench-backup: install ## devenv backup/restore against pg_dump + an S3 copy by hand, same data
	$(BIN)/python tests/benchmarks/bench_backup.py

bench-pins: install ## what a changed pin rebuilds: devenv add, then only the affected images and layers
	$(BIN)/python tests/benchmarks/bench_pins.py

relock: install ## re-resolve the template's uv.lock and the images' requirements.lock after a pin change in template/pyproject.toml.jinja
	$(BIN)/python tools/relock.py

engine: ## is a Docker engine answering? (make demo checks this first, in seconds)
	@command -v docker >/dev/null 2>&1 || { echo "make demo: docker is not installed; install Docker Engine or Docker Desktop" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make demo: the Docker engine is not answering; start Docker (Docker Desktop, or: sudo systemctl start docker), check DOCKER_HOST, then run make demo again" >&2; exit 1; }
	@$(if $(OFFLINE),command -v debootstrap >/dev/null 2>&1 || { echo "make demo OFFLINE=1: debootstrap is missing; it builds the base images (as root: apt-get install debootstrap)" >&2; exit 1; },true)

demo: engine install ## scaffold a demo project, bring it up, prove it works, print URLs (OFFLINE=1: no registry)
	@printf 'make demo on: ' >&2; $(BIN)/devenv doctor --platform >&2
	@$(if $(OFFLINE),$(BIN)/python tests/e2e/images/kit.py,true)
	@test -d $(DEMO_DIR) || $(BIN)/devenv new $(DEMO_DIR) --defaults --no-git $(if $(OFFLINE),--data gpu=none,)
	@$(if $(OFFLINE),grep -q devenv-kit $(DEMO_DIR)/.env || cat $(KIT_OVERRIDES) >> $(DEMO_DIR)/.env,true)
	@$(if $(OFFLINE),true,cd $(DEMO_DIR) && docker compose pull --quiet --ignore-buildable --policy missing >/dev/null 2>&1 \
	  || { echo "make demo: base images cannot be pulled here (no registry access?); try: make demo OFFLINE=1" >&2; exit 1; })
	cd $(DEMO_DIR) && $(abspath $(BIN))/devenv up
	cd $(DEMO_DIR) && $(abspath $(BIN))/devenv status
	cd $(DEMO_DIR) && $(abspath $(BIN))/devenv smoke
	@echo "MLflow asks for a login: MLFLOW_ADMIN_USER / MLFLOW_ADMIN_PASSWORD in $(DEMO_DIR)/.env (docs/security.md)"
	@echo "The stack keeps running. Stop it with: make demo-down (data kept); delete its data with: cd $(DEMO_DIR) && $(abspath $(BIN))/devenv reset"

demo-down: ## stop the demo stack (volumes kept)
	cd $(DEMO_DIR) && $(abspath $(BIN))/devenv down

clean: ## remove the virtualenv and build outputs (not the demo's volumes)
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
