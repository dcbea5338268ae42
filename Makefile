# Every target that needs the environment depends on the stamp, so `make run` and `make test`
# set themselves up on a fresh clone and skip the install when pyproject.toml has not changed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# e.g. make test PYTEST_ARGS='-n auto -k store'
PYTEST_ARGS ?=

.PHONY: install run test lint bench bench-sync bench-actions bench-actions-profile bench-offerwall bench-database-pool clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/surveyrouter serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy src

# Lint findings do not stop the tests from running: one run reports everything. The exit code is
# pytest's when the tests fail, else 1 when lint failed.
test: install
	@lint=0; \
	$(BIN)/ruff check . || lint=1; \
	$(BIN)/mypy src || lint=1; \
	$(BIN)/pytest $(PYTEST_ARGS) || exit $$?; \
	if [ $$lint -ne 0 ]; then echo "make test: ruff or mypy failed (see above)" >&2; fi; \
	exit $$lint

bench: install
	$(BIN)/python bench/matching.py

bench-sync: install
	$(BIN)/python bench/sync.py

bench-actions: install
	$(BIN)/python bench/actions.py

bench-actions-profile: install
	$(BIN)/python bench/actions_profile.py

bench-offerwall: install
	$(BIN)/python bench/offerwall.py

bench-database-pool: install
	$(BIN)/python bench/database_pool.py

clean:
	rm -rf $(VENV) var build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
