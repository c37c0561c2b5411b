# The two commands a new user runs: `make run` and `make test`.
# Both build .venv from requirements-dev.txt (the runtime's requirements.txt plus the embedded
# PostgreSQL/Redis and test tools) on first use, and again when either changes.
PYTHON ?= python3
VENV := .venv
# The suite waits on workers and the network far more than it computes: run it 6 wide (on 2
# cores: 135-137 s, against 152-157 s 4 wide).
TEST_PARALLEL ?= 6
PY := $(VENV)/bin/python

.PHONY: run test lint bench clean image image-smoke

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The project's bytecode, written once: with PYTHONDONTWRITEBYTECODE set (as on this machine and
# its CI) every new interpreter (a worker, gunicorn, the demo's processes) compiled the project's
# ~550 modules again, 0.45 s of CPU each (1.5 s here, once).
COMPILE := $(PY) -m compileall -q -x '(^|/)(\.venv|\.local|\.git)/' . > /dev/null

run: $(VENV)/.installed
	$(COMPILE)
	$(PY) manage.py demo

test: $(VENV)/.installed
	$(COMPILE)
	$(PY) manage.py test --noinput --parallel $(TEST_PARALLEL)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

bench: $(VENV)/.installed
	$(PY) manage.py bench

# The production image, built with buildah (no Docker engine) on a python:3.11-slim stand-in made
# from Debian's packages (tools/image/base.sh; needs buildah and mmdebstrap: apt-get install buildah
# mmdebstrap), then its smoke test: the image's own commands publishing through the API.
image:
	tools/image/base.sh
	tools/image/build.sh

image-smoke: $(VENV)/.installed
	$(PY) tools/image/smoke.py

clean:
	rm -rf $(VENV) .local
