# imdec: `make demo` and `make test` work on a fresh clone (Python 3.11, network to PyPI).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv test demo extension wheels bench evaluate clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) is needed (Blender 4.2-5.0 use Python 3.11); set PYTHON=..."; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

demo: $(STAMP) extension
	$(PY) tools/demo.py --out out

extension: $(STAMP)
	$(PY) tools/build_extension.py --out dist

# Fill wheels/ for one platform before `make extension` to build a self-contained zip, e.g.
#   make wheels PLATFORM=windows-x64
PLATFORM ?= linux-x64
wheels: $(STAMP)
	$(PY) tools/fetch_wheels.py --platform $(PLATFORM) --python 3.11

bench: $(STAMP)
	$(PY) -m engine bench --json

evaluate: $(STAMP)
	$(PY) -m engine evaluate --json

clean:
	rm -rf dist out build .pytest_cache
