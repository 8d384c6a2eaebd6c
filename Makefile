# The README's commands. Each target creates .venv when missing, installs the package with
# the extension built and every pinned tool of its extras (ci/install.sh; nothing is installed
# in the middle of a run), and is safe to rerun.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint dist-check demo fuzz fuzz-native bench bench-micro bench-e2e bench-instructions bench-hostile bench-rss bench-scale-memory bench-check bench-baseline clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

EXT_SOURCES := $(wildcard ext/*.pyx ext/*.pxi ext/*.pxd ext/*.h)

$(STAMP): $(PY) pyproject.toml setup.py $(EXT_SOURCES)
	ci/install.sh $(PY)
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	ci/test.sh $(PY)

demo: $(STAMP)
	$(VENV)/bin/mcpauth-fast demo

lint: $(STAMP)
	$(PY) -m ruff check src tests setup.py
	$(PY) -m mypy src/mcpauth_fast

# The package as a user gets it (ci/dist_check.sh): python -m build's sdist and wheel, and a
# pure-Python wheel; each wheel installed into a fresh venv with no compiler and no Cython, and
# the suite run against the installed package; the sdist installed with a failing compiler
# falls back to pure Python with its warning. About 10 minutes; .ci/run runs it after make test.
dist-check: $(STAMP)
	ci/dist_check.sh $(PY)

# Fuzz the compiled hot path against its twin (atheris), bounded by FUZZ_SECONDS.
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	$(PY) ci/fuzz_speedups.py -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048

# The same harness against a clang ASan + SanitizerCoverage build of the extension (needs clang).
fuzz-native: $(STAMP)
	ci/fuzz_native.sh $(PY) $(FUZZ_SECONDS)

# Benchmarks (bench/README.md): ratios to floors measured side by side in the same run.
BENCH_RUNS ?= 2
BENCH_STAMP := $(VENV)/.bench-installed

# The bench extra pins bench/requirements.txt (tests/test_packaging.py keeps them in step).
$(BENCH_STAMP): $(STAMP)
	ci/install.sh $(PY) test,lint,fuzz,dist,demo,bench
	touch $(BENCH_STAMP)

# All of it: the micro suite (pytest-benchmark), then end to end (wrk, locust) and the chart,
# then the server's instructions per request end to end (valgrind).
bench: bench-micro bench-e2e bench-instructions

bench-micro: $(BENCH_STAMP)
	bench/run.sh $(PY) 1 bench/results

bench-e2e: $(BENCH_STAMP)
	bench/run_e2e.sh $(PY)

# Repeatable on a busy machine: instruction counts do not swing with the neighbours' load.
bench-instructions: $(BENCH_STAMP)
	bench/run_e2e.sh $(PY) instructions

# Issue 15's bars, in process under callgrind: a tools/call with a per-tool rule against a
# route-level rule only, on the MCP SDK app and a minimal app (~7 min; needs valgrind).
.PHONY: bench-operations
bench-operations: $(BENCH_STAMP)
	$(PY) bench/operations_instructions.py

# Issue 17's bar, in process under callgrind: a repeated token through the MCP SDK's own auth
# with MCPAuth.token_verifier against bearer_auth_middleware, and a PyJWT-based verifier, on
# one SDK app (~5 min; needs valgrind).
.PHONY: bench-sdk-verifier
bench-sdk-verifier: $(BENCH_STAMP)
	$(PY) bench/sdk_verifier_instructions.py

# Issue 18's bar, in process under callgrind: a DPoP request on a cached token (ES256 and
# EdDSA proofs) against a cache-hit Bearer request plus the raw cryptography verify of the
# proof's signature; then a wall-clock side-by-side (~1 min; needs valgrind).
.PHONY: bench-dpop
bench-dpop: $(BENCH_STAMP)
	$(PY) bench/dpop_instructions.py

# Hostile tokens mixed under locust against the fast app, bounded by HOSTILE_SECONDS; exit 1 on
# a 5xx, a wrong decision, a request error, RSS growth or a traceback/token in the server log.
HOSTILE_SECONDS ?= 120
bench-hostile: $(BENCH_STAMP)
	$(PY) bench/hostile.py --time $(HOSTILE_SECONDS)

# RSS after 1,000,000 distinct tokens against the no-auth app (about 15 minutes).
bench-rss: $(BENCH_STAMP)
	$(PY) bench/e2e.py --no-rps --locust-time 0 --rss-tokens 1000000 --out bench/results/e2e-rss-1m.json

# Memory per cached token, in a worker (compiled and pure) and in Redis, and the bytes on the
# wire per shared entry: the figures of docs/scale.md (~2-3 min; needs redis-server).
bench-scale-memory: $(BENCH_STAMP)
	$(PY) bench/scale_memory.py

bench-check: $(BENCH_STAMP)
	bench/run.sh $(PY) $(BENCH_RUNS) bench/results
	$(PY) bench/check.py --baseline bench/baseline/summary.json --new bench/results/run-*.json

bench-baseline: $(BENCH_STAMP)
	bench/run.sh $(PY) $(BENCH_RUNS) bench/results/baseline
	$(PY) bench/summary.py bench/results/baseline/run-*.json -o bench/baseline/summary.json

# Issue 16's bars on two uvicorn workers behind a real redis-server (~1.5 min): revocation
# delay (p99 < 1 s) and Redis SIGKILLed and restarted under locust (no 5xx, no wrong decision).
.PHONY: bench-shared
bench-shared: $(BENCH_STAMP)
	$(PY) bench/shared_bars.py

clean:
	rm -rf build dist src/*.egg-info src/mcpauth_fast/*.so ext/*.c ext/*.html $(VENV) .venv-mcp1
