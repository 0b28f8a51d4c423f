# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv, install codeuf with its extras (building llama-cpp-python from source, about
# 5 minutes the first time; pip caches the wheel afterwards), then run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned inside the `hf` extra (torch==2.13.0): an unpinned torch pulls gigabytes of CUDA.
EXTRAS := all,hf,dev
DEMO_OUT := runs/demo

.PHONY: demo test install lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --progress-bar off -e '.[$(EXTRAS)]'
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/codeuf llm batch --model llamacpp:default --in examples/coding_prompts.jsonl \
		--out $(DEMO_OUT)/answers.jsonl --cache $(DEMO_OUT)/cache.sqlite
	$(BIN)/python examples/show_answers.py $(DEMO_OUT)/answers.jsonl

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

bench: $(STAMP)
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
