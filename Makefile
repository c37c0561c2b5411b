# The two commands a new user runs: `make run` and `make test`.
# Both build .venv from requirements.txt on first use (and again when it changes).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/.installed
	$(PY) manage.py demo

test: $(VENV)/.installed
	$(PY) manage.py test --noinput

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed
	$(PY) manage.py bench

clean:
	rm -rf $(VENV) .local
