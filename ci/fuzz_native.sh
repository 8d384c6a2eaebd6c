#!/usr/bin/env bash
# Coverage-guided, AddressSanitizer fuzzing of the compiled hot path (make fuzz-native).
#
#   ci/fuzz_native.sh [python] [seconds]      # defaults: .venv/bin/python 600
#
# `make fuzz` runs ci/fuzz_speedups.py against the normal gcc build, so libFuzzer sees only
# Python coverage and a memory error in C is found only if it crashes. This script builds a
# separate copy of ext/_speedups.pyx with clang -fsanitize=address,fuzzer-no-link into
# build/fuzz-native/ext/ (the .so in src/mcpauth_fast/ is never touched), then runs the same
# harness with MCPAUTH_FUZZ_EXT_DIR pointing at it, LD_PRELOAD=atheris's asan_with_fuzzer.so,
# PYTHONMALLOC=malloc (so ASan sees every Python object's buffer) and detect_leaks=0 (Python
# leaks at exit; the harness's RSS check stays on, with a 64 MB ASan quarantine and a 128 MB
# limit for ASan's redzones and allocator caches). A 1-run preflight first checks
# that libFuzzer registered the .so's own inline 8-bit counters (the size of its
# __sancov_cntrs section): otherwise the run would be exercised, not guided.
# Needs clang (Debian: apt-get install clang libclang-rt-14-dev); CLANG=clang-19 picks another.
# Corpus: build/fuzz-native/corpus (kept between runs); crashes: build/fuzz-native/artifacts/;
# full log: build/fuzz-native/fuzz.log. Not run in CI (no clang there).
set -euo pipefail
py=${1:-.venv/bin/python}
secs=${2:-600}
cd "$(dirname "$0")/.."
out=${MCPAUTH_FUZZ_NATIVE_DIR:-build/fuzz-native}
cc=${CLANG:-clang}

command -v "$cc" >/dev/null || { echo "fuzz_native: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
"$py" -c "import atheris" 2>/dev/null \
  || { echo "fuzz_native: atheris missing: pip install -e '.[fuzz]' (make install does)" >&2; exit 2; }
preload=$("$py" -c "import atheris, os; print(os.path.join(atheris.path(), 'asan_with_fuzzer.so'))")
[ -f "$preload" ] || { echo "fuzz_native: $preload missing (atheris could not build it)" >&2; exit 2; }
suffix=$("$py" -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
include=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
mkdir -p "$out/ext" "$out/corpus" "$out/artifacts"
so=$(realpath "$out/ext")/_speedups$suffix
log=$out/fuzz.log

# Build (only when the .pyx or this script changed). No -DNDEBUG: CPython's header asserts
# (e.g. PyUnicode_1BYTE_DATA on a non-1-byte string) are live checks here.
if [ ! -f "$so" ] || [ ext/_speedups.pyx -nt "$so" ] || [ -n "$(find ext -newer "$so")" ] || [ "$0" -nt "$so" ]; then
  echo "== fuzz_native: building $so with $($cc --version | head -n 1)"
  "$py" -m cython -3 --module-name mcpauth_fast._speedups ext/_speedups.pyx -o "$out/_speedups.c"
  "$cc" -shared -fPIC -O1 -g -fno-omit-frame-pointer -fwrapv -fno-strict-aliasing \
    -fsanitize=address,fuzzer-no-link -I"$include" -Iext "$out/_speedups.c" -o "$so.tmp"
  mv "$so.tmp" "$so"
fi
[ "$(nm -D --undefined-only "$so" | grep -c __asan_report)" -gt 0 ] \
  || { echo "fuzz_native: $so has no ASan instrumentation" >&2; exit 1; }
counters=$(readelf -SW "$so" | awk '{ for (i = 1; i < NF; i++) if ($i == "__sancov_cntrs") print $(i + 4) }')
counters=$(( ${counters:+0x$counters}+0 ))
[ -n "$counters" ] && [ "$counters" -gt 0 ] \
  || { echo "fuzz_native: $so has no SanitizerCoverage counters" >&2; exit 1; }

run() {
  env LD_PRELOAD="$preload" PYTHONMALLOC=malloc MCPAUTH_FUZZ_EXT_DIR="$(dirname "$so")" \
    MCPAUTH_FAST_FUZZ_LEAK_MB="${MCPAUTH_FAST_FUZZ_LEAK_MB:-128}" \
    ASAN_OPTIONS="detect_leaks=0:quarantine_size_mb=64${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    "$py" ci/fuzz_speedups.py -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$out/artifacts/" "$@"
}

# Preflight: the instrumented .so is the one loaded and libFuzzer counts its counters.
preflight=$(run -runs=1 2>&1) || { echo "$preflight" >&2; echo "fuzz_native: preflight failed" >&2; exit 1; }
grep -E "^INFO: (compiled module under test|Loaded [0-9]+ (modules|PC tables))" <<<"$preflight" || true
grep -qxF "INFO: compiled module under test: $so" <<<"$preflight" \
  || { echo "fuzz_native: the harness did not load $so" >&2; exit 1; }
grep -qE "^INFO: Loaded [0-9]+ modules +\($counters inline 8-bit counters\)" <<<"$preflight" \
  || { echo "fuzz_native: libFuzzer did not register the $counters counters of $so" >&2; exit 1; }
echo "== fuzz_native: OK, libFuzzer registered $counters inline 8-bit counters from $so"

echo "== fuzz_native: fuzzing for $secs s (corpus $out/corpus, full log $log)"
set +e
run "$out/corpus" -max_total_time="$secs" -print_final_stats=1 2>&1 | tee "$log" \
  | grep --line-buffered -E "^#[0-9]+[[:space:]]+(INITED|pulse|DONE)|ERROR|Uncaught|Error|Test unit"
status=${PIPESTATUS[0]}
set -e
echo "== fuzz_native: summary"
grep -E "^#[0-9]+[[:space:]]+INITED" "$log" | head -n 1 || true
grep -E "^#[0-9]+[[:space:]]" "$log" | tail -n 1 || true
grep -E "^stat::" "$log" || true
grep -E "==[0-9]+== ?ERROR|^SUMMARY|Test unit written" "$log" || true
ls -l "$out/artifacts/" | tail -n +2
echo "== fuzz_native: exit status $status"
exit "$status"
