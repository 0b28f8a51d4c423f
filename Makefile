# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create .venv, install codeuf with its extras (building llama-cpp-python from source, about
# 5 minutes the first time; pip caches the wheel afterwards), then run.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch is pinned inside the `hf` extra (torch==2.13.0): an unpinned torch pulls gigabytes of CUDA.
EXTRAS := all,hf,train,dev,ray,docs,answers
DEMO_OUT := runs/demo

.PHONY: demo test install lint bench clean browser sandbox toolchains docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# llama.cpp's AMX kernels crash on Q4_K weights (ggml-org/llama.cpp#20824; seen on this project's Xeon
# machines), and the default -march=native build turns them on wherever the CPU has AMX. On x86_64,
# llama-cpp-python is built for AVX2 instead, which every x86 server of the last decade runs; pip's wheel
# cache is bypassed for it, since a cached native build would otherwise be reused.
LLAMA_CMAKE_ARGS ?= $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON)
LLAMA_REQ := $(shell sed -n 's/^server = \["\(llama-cpp-python[^"]*\)"\]/\1/p' pyproject.toml)

$(STAMP): pyproject.toml | $(BIN)/python
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip install --progress-bar off --no-cache-dir '$(LLAMA_REQ)'
	$(BIN)/python -m pip install --progress-bar off -e '.[$(EXTRAS)]'
	$(BIN)/codeuf export --fetch-converter
	touch $@

install: $(STAMP)

# The main job, offline: a small CodeUltraFeedback-style dataset built by the embedded model (4 pool
# configurations and the judge), ending with a summary table and the paths of the datasets and cards.
demo: $(STAMP) sandbox
	$(BIN)/codeuf run --out $(DEMO_OUT)

test: $(STAMP) browser sandbox toolchains
	$(BIN)/python -m pytest

# Debian's Chromium renders the HTML reports in the tests; installed when missing and we are root.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
		echo "chromium could not be installed: the HTML report test will be skipped"

# Debian's bubblewrap puts each sandbox worker in its own namespaces (see the README's threat model);
# installed when missing and we are root. Without it, generated code runs with the inner guards only.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null) ; } || \
		echo "bubblewrap could not be installed: the sandbox runs with its inner guards only"

# The toolchains of the languages codeuf runs besides Python (codeuf languages lists them): Debian's Go, PHP,
# Ruby, Mono's C#, R, MariaDB's server (for MySQL) and the others when missing and we are root, and the JSON
# library C++ answers include most (nlohmann/json, headers only); from the npm registry into the virtual
# environment: TypeScript's compiler (which also compiles JSX), React and styled-components, jsdom (which runs
# HTML, CSS and browser JavaScript) and mingo (MongoDB's query language, for MongoDB shell scripts). A language whose toolchain is missing is `not_executed`, with the
# command that installs it. Each pair is a command (or, starting with /, a file pattern) and the package that
# provides it: PHP's mbstring and SQLite modules are files, not commands. LEAN_PACKAGES come without the
# packages Debian recommends with them (R's would bring a Fortran compiler and its manuals).
TOOL_PACKAGES := go:golang-go php:php-cli ruby:ruby sqlite3:sqlite3 node:nodejs javac:default-jdk-headless g++:g++ mcs:mono-mcs \
	/usr/lib/php/*/mbstring.so:php-mbstring /usr/lib/php/*/pdo_sqlite.so:php-sqlite3 \
	/usr/include/nlohmann/json.hpp:nlohmann-json3-dev
LEAN_PACKAGES := /usr/sbin/mariadbd:mariadb-server-core Rscript:r-base-core
NODE_MODULES := typescript@5 jsdom@26 react@18 react-dom@18 styled-components@6 mingo@7
define install_missing
	@missing=""; for pair in $(1); do what=$${pair%%:*}; \
		case $$what in /*) ls $$what >/dev/null 2>&1;; *) command -v $$what >/dev/null 2>&1;; esac || \
		missing="$$missing $${pair#*:}"; done; \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) $$missing >/dev/null) ; } || \
		echo "could not install$$missing: tests of those languages will be skipped"
endef
toolchains: $(STAMP)
	$(call install_missing,$(TOOL_PACKAGES),)
	$(call install_missing,$(LEAN_PACKAGES),--no-install-recommends)
	@for package in $(NODE_MODULES); do [ -f $(VENV)/lib/codeuf-node/node_modules/$${package%@*}/package.json ] || \
		missing=1; done; [ -z "$$missing" ] || ! command -v npm >/dev/null 2>&1 || \
		npm install --silent --no-audit --no-fund --prefix $(VENV)/lib/codeuf-node $(NODE_MODULES) >/dev/null || \
		echo "$(NODE_MODULES) could not be installed: TypeScript, JSX, HTML, CSS and MongoDB tests will be skipped"

# The docs site into site/, strict: a broken link or anchor fails (tests/integration/test_docs_site.py too).
docs: $(STAMP)
	$(BIN)/python docs/gen_reference.py
	$(BIN)/mkdocs build --strict --site-dir site

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/ruff format --check src tests benchmarks docs

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[$(EXTRAS),bench]'
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/startup.py
	$(BIN)/python benchmarks/humaneval_vs_evalplus.py
	$(BIN)/python benchmarks/train_step.py
	$(BIN)/python benchmarks/execute_vs_humaneval.py
	$(BIN)/python benchmarks/failure_scenarios.py
	$(BIN)/python benchmarks/constrained_decoding.py
	$(BIN)/python benchmarks/judge_methods.py
	$(BIN)/python benchmarks/ray_executor.py
	$(BIN)/python benchmarks/batch_api.py
	$(BIN)/python benchmarks/sandbox_isolation.py
	$(BIN)/python benchmarks/languages.py
	$(BIN)/python benchmarks/viewer.py
	$(BIN)/python benchmarks/batched_decoding.py

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
