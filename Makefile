# The two commands of the quick start: `make demo` and `make test`.
# Each creates .venv when it is missing (or older than the dependency files) and installs into it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= data
PYTEST_ARGS ?=

.PHONY: demo test install bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned: a looser spec would pull gigabytes of CUDA packages.
	$(BIN)/python -m pip install --quiet --no-compile -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet --no-compile -c constraints.txt -e '.[dev]'
	# pip compiles one file at a time, compileall on every core; as pip does, it passes over files
	# that do not compile (torch ships Python 3.12 test helpers).
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/shopml simulate --home $(DEMO_HOME)
	$(BIN)/shopml summary --home $(DEMO_HOME)
	$(BIN)/shopml features build --home $(DEMO_HOME)
	$(BIN)/shopml features apply --home $(DEMO_HOME)
	$(BIN)/shopml index build --home $(DEMO_HOME)
	$(BIN)/shopml train all --home $(DEMO_HOME)
	# after training: the user embedding's vectors are a view too
	$(BIN)/shopml features materialize --home $(DEMO_HOME)
	$(BIN)/shopml serve --try-endpoints --home $(DEMO_HOME)

# --dist loadfile: a test module runs on one worker, so its module fixtures (the e2e home with
# every task trained, its server) are built once, not once per worker
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench.simulate
	$(BIN)/python -m bench.feature_build

clean:
	rm -rf $(VENV) data .pytest_cache
