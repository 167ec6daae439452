# Fresh machine: `make run` serves Frontdesk on embedded defaults, `make test` runs the test suite.
# Both create the virtual environment from this repository's own files first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/frontdesk serve

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/ruff format --check .

# Each benchmark prints its own figures; the reliability suites are in docs/reliability.md.
bench: $(STAMP)
	$(BIN)/python bench/backoffice.py
	$(BIN)/python bench/dialogue.py
	$(BIN)/python bench/conversations.py
	$(BIN)/python bench/first_turns.py
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/voice.py
	$(BIN)/python bench/replay.py

clean:
	rm -rf $(VENV) var .pytest_cache
