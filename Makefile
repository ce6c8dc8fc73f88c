# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	$(BIN)/python -m artface_align fetch blazeface_short face_mesh   # Apache-2.0 .tflite files from the pinned mediapipe wheel, sha256-checked
	touch $(STAMP)

.PHONY: install demo test bench
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/artface demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	cd benchmarks && for b in bench_*.py; do echo "== $$b"; ../$(BIN)/python $$b || exit 1; done
