# Two commands do everything on a fresh machine:
#   make demo   -> set up .venv and interpolate the bundled synthetic example (offline, no weights)
#   make test   -> set up .venv and run the test suite (CPU, no network)
# The test environment pins OpenCV to a version the fidelity fixtures were made with (constraints.txt).
# Override the torch requirement with e.g. `make test TORCH_SPEC="torch==2.5.1"`.

PYTHON      ?= python3
VENV        ?= .venv
TORCH_SPEC  ?= torch==2.13.0
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.installed
DEMO_OUT    ?= demo_output

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test,plot]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/animeinterp demo --out $(DEMO_OUT)

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) build *.egg-info
