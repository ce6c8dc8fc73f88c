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

.PHONY: install demo test bench browser
install: $(STAMP)

demo: $(STAMP)
	$(BIN)/artface demo

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

# `artface show`'s page is tested in Debian's chromium (headless, driven by Playwright): installed when missing
browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
	  || echo "warning: chromium could not be installed: the page test is skipped here (and fails in CI)"

bench: $(STAMP)
	cd benchmarks && for b in bench_*.py; do echo "== $$b"; ../$(BIN)/python $$b || exit 1; done
