# Crisis Center. Quick start: `make run` (embedded mode) and `make test` (the whole suite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench install migrate demo prod lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when requirements.txt changes, so a second `make run` starts in seconds.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

install: $(VENV)/.installed

migrate: install
	$(BIN)/python manage.py migrate --noinput -v 0

demo: migrate
	$(BIN)/python manage.py demo_setup

run: demo
	$(BIN)/python manage.py serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python tests/run.py $(ARGS)

bench: install
	$(BIN)/python bench/run.py $(ARGS)

# Production processes from the Procfile, without Docker (needs DATABASE_URL, REDIS_URL, SECRET_KEY...).
prod: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v 0
	$(BIN)/honcho start

clean:
	rm -rf $(VENV) var .pytest_cache
