# mlrsir: the two commands of the README are `make demo` (main job) and `make test` (tests).
# Each creates the virtual environment it needs on first use.

VENV      ?= .venv
PY        := $(VENV)/bin/python
MLRSIR    := $(VENV)/bin/mlrsir
UCM_ROOT  ?= ../shared/data/ucm-multilabel
BITS      ?= 32
RUN       ?= runs/demo-$(BITS)b

.PHONY: install demo lint docs test test-fast browser-deps benchmark clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-cache-dir -e '.[test]'
	touch $@

install: $(VENV)/.installed

# Main job: check the data, show the floors, train MLRSIR-NET on UCM, export it to ONNX,
# encode (ONNX Runtime when the export is current), evaluate.
demo: install
	$(MLRSIR) data check --dataset ucm --root $(UCM_ROOT)
	$(MLRSIR) floors --dataset ucm --root $(UCM_ROOT) --bits 12 24 32 48
	$(MLRSIR) train --dataset ucm --root $(UCM_ROOT) --bits $(BITS) --out $(RUN)
	$(MLRSIR) export --run $(RUN) --format onnx
	$(MLRSIR) encode --run $(RUN) --runtime auto
	$(MLRSIR) evaluate --run $(RUN)

# Debian's Chromium for the browser test (skipped with a reason when it cannot be installed).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  echo "chromium not installed: the browser test will be skipped"; }

# Lint (ruff), formatting (ruff format), types (mypy on the modules listed in pyproject.toml),
# the layer order of the packages (import-linter contracts in pyproject.toml, docs/ARCHITECTURE.md)
# and the documentation site (a broken link or a stale API reference fails).
lint: install docs
	$(VENV)/bin/ruff check src tests
	$(VENV)/bin/ruff format --check src tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# The documentation site (mkdocs.yml; API pages generated from the docstrings) into site/.
docs: install
	NO_MKDOCS_2_WARNING=1 DISABLE_MKDOCS_2_WARNING=true $(VENV)/bin/mkdocs build --strict --quiet

test: install browser-deps lint
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not browser and not realdata"

benchmark: install
	$(MLRSIR) benchmark --dataset ucm --root $(UCM_ROOT) --methods mlrsir dch dhn dtq dqn \
	  --bits 12 24 32 36 48 --seeds 3 --out reports/ucm

clean:
	rm -rf runs .pytest_cache site
