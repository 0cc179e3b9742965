# imdec: `make demo` and `make test` work on a fresh clone (Python 3.11 and access to PyPI).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PLATFORM ?= linux-x64
DEMO_ARGS ?=

.PHONY: venv test test-blender demo extension extension-nowheels wheels wheels-all bench evaluate samples clean

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) is needed (Blender 4.2-5.0 use Python 3.11); set PYTHON=..."; exit 2; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# the whole suite: engine, command line, extraction, data, training, and real-Blender tests
test: $(STAMP)
	$(PY) -m pytest -q tests

test-blender: $(STAMP)
	$(PY) -m pytest -q tests/test_blender.py

# headless Blender: reconstruct docs/samples/chair.png -> out/demo.blend, out/demo.obj, out/demo.png
demo: $(STAMP)
	$(PY) tools/demo.py --image docs/samples/chair.png --out out $(DEMO_ARGS)

# dist/imdec-<version>-<platform>.zip for linux-x64, windows-x64, macos-arm64 with that platform's
# wheels from wheels/, built and validated by Blender's own extension builder
extension: $(STAMP)
	$(PY) tools/build_extension.py --output-dir dist

# one zip without wheels, for a Blender whose Python already has the dependencies
extension-nowheels: $(STAMP)
	$(PY) tools/build_extension.py --output-dir dist --no-wheels --no-split

# fill wheels/ for one platform (make wheels PLATFORM=windows-x64); needs network
wheels: $(STAMP)
	$(PY) tools/fetch_wheels.py --platform $(PLATFORM) --python 3.11

wheels-all: $(STAMP)
	for p in linux-x64 windows-x64 macos-arm64; do $(PY) tools/fetch_wheels.py --platform $$p --python 3.11 || exit 1; done

bench: $(STAMP)
	$(PY) -m engine bench

evaluate: $(STAMP)
	$(PY) -m engine evaluate

samples: $(STAMP)
	$(PY) tools/make_samples.py --out docs/samples

clean:
	rm -rf dist out build .pytest_cache
