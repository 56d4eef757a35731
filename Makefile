# The two commands of the README: `make demo` (the main job) and `make test`.
# Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# OPTUNA_PIN=X.Y.Z installs that Optuna instead of the newest (pyproject: optuna>=5.0);
# CI runs the tests on the oldest supported one too, in its own virtual environment:
#   make test-optuna-oldest   (= make test VENV=.venv-optuna-oldest OPTUNA_PIN=5.0.0)
OPTUNA_PIN ?=
OPTUNA_OLDEST := 5.0.0
STAMP := $(VENV)/.effobj-installed$(if $(OPTUNA_PIN),-optuna-$(OPTUNA_PIN))
CHECK_PIN = $(PY) -c "import optuna, sys; v = optuna.__version__; sys.exit(None if v == '$(OPTUNA_PIN)' else f'Optuna {v} is installed in $(VENV), not $(OPTUNA_PIN)')"

.PHONY: demo test test-optuna-oldest bench lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU build of torch first: a bare `torch` requirement pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev,report,postgres,remote,onnx]' $(if $(OPTUNA_PIN),optuna==$(OPTUNA_PIN))
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/effobj demo

test: $(STAMP)
	$(if $(OPTUNA_PIN),$(CHECK_PIN))
	$(PY) -m mypy
	$(PY) -m pytest -q -m "not slow" tests

test-optuna-oldest:
	$(MAKE) test VENV=.venv-optuna-oldest OPTUNA_PIN=$(OPTUNA_OLDEST)

bench: $(STAMP)
	$(PY) -m pip install -q -e '.[bench]'
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check effobj search_spaces tests benchmarks examples

clean:
	rm -rf $(VENV) .venv-optuna-oldest build *.egg-info
