# Causeway: the two commands a newcomer needs on a fresh Debian 12 machine are
#   make demo   install what is missing, build, run the demo
#   make test   install what is missing, build, run every test (unit, integration, ASan+UBSan)
# `make help` lists the rest. Builds use CMake + Ninja; each build dir is configured once
# and rebuilt incrementally afterwards.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := build
# Each step parallelises inside itself (ninja, ctest -j); steps run in order.
.NOTPARALLEL:

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))
# Debian's python: the python3 first on PATH may be another install that cannot see
# python3-pytest, python3-h2, ... from Debian.
PYTHON := /usr/bin/python3
NPROC := $(shell nproc 2>/dev/null || echo 2)

BUILD      := $(ROOT)/build
ASAN_BUILD := $(ROOT)/build-asan
FUZZ_BUILD := $(ROOT)/build-fuzz

RELEASE_FLAGS := -DCMAKE_BUILD_TYPE=Release
ASAN_FLAGS    := -DCMAKE_BUILD_TYPE=Debug -DCAUSEWAY_SANITIZE=ON -DCAUSEWAY_BENCH=OFF
FUZZ_FLAGS    := -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
                 -DCAUSEWAY_FUZZ=ON -DCAUSEWAY_TESTS=OFF -DCAUSEWAY_BENCH=OFF

CTEST_JOBS     ?= 2
PYTEST_TIMEOUT ?= 120
PYTEST_ARGS    ?=
FUZZ_SECONDS   ?= 60
FUZZ_JOBS      ?= $(NPROC)

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

.PHONY: help deps deps-bench deps-lint build build-asan demo test test-unit test-integration \
        test-asan fuzz bench bench-dns format format-check tidy clean

help:
	@echo "make demo           install missing Debian packages, build, run 'causeway demo'"
	@echo "make test           deps + build + unit (ctest) + integration (pytest) + test-asan"
	@echo "make build          release build -> build/causeway"
	@echo "make test-unit      ctest on build/"
	@echo "make test-integration  pytest tests/integration against build/causeway"
	@echo "make test-asan      ASan+UBSan build in build-asan/, its ctest and integration pass"
	@echo "make fuzz           clang/libFuzzer build in build-fuzz/, each target FUZZ_SECONDS=$(FUZZ_SECONDS)"
	@echo "make bench          side-by-side load benchmarks (bench/load/run.sh)"
	@echo "make bench-dns      DNS server vs knot, unbound, dnsmasq (bench/dns/run.sh)"
	@echo "make format         clang-format -i;  make format-check: report only"
	@echo "make tidy           clang-tidy over src/ cli/ tests/unit/ (build/compile_commands.json)"
	@echo "make deps           only install missing Debian packages"
	@echo "make clean          remove build dirs and fuzz scratch corpora"

# ---- dependencies ---------------------------------------------------------------------------
deps:
	@bash $(ROOT)/scripts/install-deps.sh
deps-bench:
	@bash $(ROOT)/scripts/install-deps.sh bench
deps-lint:
	@bash $(ROOT)/scripts/install-deps.sh lint

# $(call configure,DIR,FLAGS): configure DIR with Ninja unless it already is with FLAGS.
# After that ninja re-runs CMake by itself when a CMakeLists.txt or a globbed dir changes.
define configure
	@if [ ! -f $(1)/build.ninja ] || [ "$$(cat $(1)/.causeway-flags 2>/dev/null)" != "$(strip $(2))" ]; then \
	  echo "==> configuring $(notdir $(1)) ($(strip $(2)))"; \
	  if [ -f $(1)/CMakeCache.txt ] && ! grep -qx 'CMAKE_GENERATOR:INTERNAL=Ninja' $(1)/CMakeCache.txt; then \
	    rm -rf $(1)/CMakeCache.txt $(1)/CMakeFiles; \
	  fi; \
	  rm -f $(1)/.causeway-flags; \
	  cmake -S $(ROOT) -B $(1) -G Ninja --log-level=WARNING $(2); \
	  echo "$(strip $(2))" > $(1)/.causeway-flags; \
	fi
endef

# $(call integration,BINARY,ENV): pytest tests/integration against BINARY.
# pytest exits 5 when it collects nothing: accepted only while there is no test file at all.
define integration
	@if [ -z "$$(find $(ROOT)/tests/integration \( -name 'test_*.py' -o -name '*_test.py' \) -print -quit 2>/dev/null)" ]; then \
	  echo "==> integration: no tests/integration/test_*.py yet, nothing to run"; \
	else \
	  echo "==> integration tests against $(1)"; \
	  cd $(ROOT) && env CAUSEWAY_BIN=$(1) $(2) $(PYTHON) -m pytest -q -p no:cacheprovider \
	    --timeout=$(PYTEST_TIMEOUT) $(PYTEST_ARGS) $(3) tests/integration; \
	fi
endef

# ---- build ----------------------------------------------------------------------------------
build: deps
	$(call configure,$(BUILD),$(RELEASE_FLAGS))
	@echo "==> building build/ (Release, -j$(NPROC))"
	@cmake --build $(BUILD) -j$(NPROC)
	@test -x $(BUILD)/causeway || { echo "make: build/causeway was not produced (no cli/*.cc yet?)" >&2; exit 1; }

build-asan: deps
	$(call configure,$(ASAN_BUILD),$(ASAN_FLAGS))
	@echo "==> building build-asan/ (Debug, ASan+UBSan, -j$(NPROC))"
	@cmake --build $(ASAN_BUILD) -j$(NPROC)
	@test -x $(ASAN_BUILD)/causeway || { echo "make: build-asan/causeway was not produced" >&2; exit 1; }

demo: build
	$(BUILD)/causeway demo

# ---- tests ----------------------------------------------------------------------------------
test: test-unit test-integration test-asan
	@echo "==> make test: all passed"

test-unit: build
	@echo "==> unit tests (build/)"
	@ctest --test-dir $(BUILD) --output-on-failure --no-tests=error -j$(CTEST_JOBS)

test-integration: build
	$(call integration,$(BUILD)/causeway,)

test-asan: build-asan
	@echo "==> unit tests under ASan+UBSan (build-asan/)"
	@env $(ASAN_ENV) ctest --test-dir $(ASAN_BUILD) --output-on-failure --no-tests=error -j$(CTEST_JOBS)
	$(call integration,$(ASAN_BUILD)/causeway,$(ASAN_ENV) CAUSEWAY_SANITIZED=1,-m "not slow")

# ---- fuzzing --------------------------------------------------------------------------------
# Each build-fuzz/tests/fuzz/fuzz_NAME runs on a scratch copy of tests/fuzz/corpus/NAME/
# (in tests/fuzz/corpus-run/, git-ignored), so the committed corpus only grows by hand.
# Crashes go to build-fuzz/artifacts/NAME/, full logs to build-fuzz/logs/NAME.log.
# An optional dictionary tests/fuzz/NAME.dict is passed with -dict=.
define FUZZ_SCRIPT_TEXT
set -uo pipefail
cd "$ROOT"
shopt -s nullglob
bins=()
for b in "$FUZZ_BUILD"/tests/fuzz/fuzz_*; do [ -f "$b" ] && [ -x "$b" ] && bins+=("$b"); done
if ((${#bins[@]} == 0)); then
  echo "fuzz: no fuzz targets in build-fuzz/tests/fuzz/ (is tests/fuzz/CMakeLists.txt written?)" >&2
  exit 1
fi
mkdir -p "$FUZZ_BUILD/logs"
export ASAN_OPTIONS=abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_one() {
  local bin=$1 name; name=$(basename "$bin"); name=${name#fuzz_}
  local seed=tests/fuzz/corpus/$name work=tests/fuzz/corpus-run/$name
  local art=$FUZZ_BUILD/artifacts/$name/ log=$FUZZ_BUILD/logs/$name.log
  rm -rf "$work"; mkdir -p "$work" "$art"
  [ -d "$seed" ] && cp -a "$seed/." "$work/"
  local dict=(); [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
  "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$art" "${dict[@]}" "$work" >"$log" 2>&1
  echo $? >"$log.rc"
}
echo "==> fuzzing ${#bins[@]} target(s) for ${FUZZ_SECONDS}s each, $FUZZ_JOBS at a time"
for b in "${bins[@]}"; do
  while (($(jobs -rp | wc -l) >= FUZZ_JOBS)); do wait -n || true; done
  run_one "$b" &
done
wait
failed=0
for b in "${bins[@]}"; do
  name=$(basename "$b"); name=${name#fuzz_}; log=$FUZZ_BUILD/logs/$name.log
  rc=$(cat "$log.rc" 2>/dev/null || echo 1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  seeds=$(find "tests/fuzz/corpus/$name" -type f 2>/dev/null | wc -l)
  grown=$(find "tests/fuzz/corpus-run/$name" -type f 2>/dev/null | wc -l)
  if [ "$rc" = 0 ]; then
    printf '  %-24s ok      %10s execs, corpus %s -> %s\n' "$name" "${execs:-?}" "$seeds" "$grown"
  else
    printf '  %-24s FAILED  (exit %s) see %s\n' "$name" "$rc" "${log#$ROOT/}"
    tail -n 40 "$log" | sed 's/^/    /'
    ls "$FUZZ_BUILD/artifacts/$name/" 2>/dev/null | sed "s|^|    artifact: build-fuzz/artifacts/$name/|"
    failed=1
  fi
done
exit $failed
endef
FUZZ_SCRIPT := $(value FUZZ_SCRIPT_TEXT)
export FUZZ_SCRIPT

fuzz: deps
	$(call configure,$(FUZZ_BUILD),$(FUZZ_FLAGS))
	@echo "==> building build-fuzz/ (clang, libFuzzer, ASan+UBSan, -j$(NPROC))"
	@cmake --build $(FUZZ_BUILD) -j$(NPROC)
	@ROOT=$(ROOT) FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) \
	  bash -c "$$FUZZ_SCRIPT"

# ---- benchmarks -----------------------------------------------------------------------------
bench: deps-bench build
	@test -f $(ROOT)/bench/load/run.sh || { echo "make: bench/load/run.sh is not written yet" >&2; exit 1; }
	@cd $(ROOT) && CAUSEWAY_BIN=$(BUILD)/causeway bash bench/load/run.sh
bench-dns: deps-bench build
	@cd $(ROOT) && CAUSEWAY_BIN=$(BUILD)/causeway bash bench/dns/run.sh

# ---- style ----------------------------------------------------------------------------------
FORMAT_FILES = find src cli tests bench -path 'tests/fuzz/corpus*' -prune -o \
               -type f \( -name '*.cc' -o -name '*.h' \) -print0 2>/dev/null

format: deps-lint
	@cd $(ROOT) && $(FORMAT_FILES) | xargs -0 -r clang-format -i
	@echo "==> clang-format applied"

format-check: deps-lint
	@cd $(ROOT) && $(FORMAT_FILES) | xargs -0 -r clang-format --dry-run -Werror

# Configures build/ (to get compile_commands.json) but does not need a full build.
# Flags are g++'s, so unknown-to-clang warning options are silenced.
tidy: deps deps-lint
	$(call configure,$(BUILD),$(RELEASE_FLAGS))
	@cd $(ROOT) && run-clang-tidy -p $(BUILD) -quiet -j$(NPROC) \
	  -extra-arg=-Wno-unknown-warning-option '$(ROOT)/(src|cli|tests/unit)/.*\.cc$$'

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(ROOT)/tests/fuzz/corpus-run
