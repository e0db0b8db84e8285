# Every install step lives here: `make run` and `make test` work on a fresh clone.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
SUITE   ?= benchmarks/quick.yaml
# make run writes its own folder (git-ignored): the committed results/ are never touched
OUT     ?= results/quick
# torch is installed first, pinned, with plain pip (a local wheel cache serves it here);
# never through uv/poetry, which would download a multi-GB CUDA build.
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1

.PHONY: venv install data run report test test-all lint bench

$(BIN)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_PINS)
	$(BIN)/python -m pip install -q -e '.[test,slurm,lint]'
	touch $@

venv install: $(BIN)/.installed

data: install
	$(BIN)/vssl-bench data generate

run: install
	$(BIN)/vssl-bench data generate
	$(BIN)/vssl-bench run --suite $(SUITE) --out $(OUT)
	$(BIN)/vssl-bench report --results $(OUT)

report: install
	$(BIN)/vssl-bench report --results $(OUT)

# Each test has its own time limit (pytest-timeout, pyproject.toml); this outer one also
# ends a hang no test limit can reach (one stuck in native code), where `timeout` exists.
GUARD := $(if $(shell command -v timeout),timeout -k 30 45m,)

test: install
	$(GUARD) $(BIN)/python -m pytest -q -m "not slow"

test-all: install
	$(GUARD) $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	bash benchmarks/time_make_run.sh
