# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.effobj-installed

.PHONY: demo test bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first: a bare `torch` requirement pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,report,postgres,remote,onnx]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/effobj demo

test: $(STAMP)
	$(PY) -m mypy
	$(PY) -m pytest -q -m "not slow" tests

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check effobj search_spaces tests benchmarks examples

clean:
	rm -rf $(VENV) build *.egg-info
