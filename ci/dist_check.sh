#!/usr/bin/env bash
# The package as a user gets it (make dist-check), in build/dist-check/:
#
#   ci/dist_check.sh [python]          # default .venv/bin/python (with the dist and test extras)
#
# 0. cibuildwheel's configuration (pyproject.toml) selects CPython 3.10-3.14 and 3.14t;
# 1. metadata only (pip install --dry-run, python -m build --sdist) never runs Cython;
# 2. the sdist, then from the unpacked sdist the platform wheel (compiled, which must succeed)
#    and the pure-Python wheel (MCPAUTH_FAST_NO_EXTENSIONS=1); their contents are checked
#    (LICENSE in both, .pyx and headers but no generated C in the sdist, no uvicorn outside
#    an extra);
# 3. each wheel installed into a fresh venv with no compiler (gcc, cc, clang... on PATH are
#    shims that fail, CC/CXX=/bin/false) and only wheels (--only-binary :all:), Cython absent;
#    the suite then runs against the installed package (src/ is never on sys.path);
# 4. the sdist installed into a fresh venv with that failing compiler: pip succeeds, the build
#    log has the fallback warning, and the pure-Python implementation is the one in use.
set -euo pipefail
py=${1:-.venv/bin/python}
cd "$(dirname "$0")/.."
root=$PWD
out=build/dist-check
rm -rf "$out"
mkdir -p "$out/dist" "$out/pure" "$out/nocc"
py=$(cd "$(dirname "$py")" && pwd)/$(basename "$py")  # absolute, symlink kept (a venv)
unset MCPAUTH_FAST_NO_EXTENSIONS MCPAUTH_FAST_REQUIRE_EXTENSIONS
step() { echo "== dist-check: $*"; }
fail() { echo "dist-check: $*" >&2; exit 1; }

# "No compiler": every usual compiler name on PATH fails, and so do CC and CXX.
for cc in cc gcc c++ g++ clang clang++ x86_64-linux-gnu-gcc x86_64-linux-gnu-g++ \
          aarch64-linux-gnu-gcc cl; do
  printf '#!/bin/sh\necho "dist-check: no compiler here ($0)" >&2\nexit 1\n' > "$out/nocc/$cc"
  chmod +x "$out/nocc/$cc"
done
nocc() { env PATH="$root/$out/nocc:$PATH" CC=/bin/false CXX=/bin/false LDSHARED=/bin/false "$@"; }

step "cibuildwheel's builds (Linux): CPython 3.10-3.14 and 3.14t"
cibw=$(dirname "$py")/cibuildwheel
tags=$("$cibw" --platform linux --print-build-identifiers | cut -d- -f1 | sort -u | xargs)
echo "$tags"
[ "$tags" = "cp310 cp311 cp312 cp313 cp314 cp314t" ] || fail "cibuildwheel would build: $tags"

step "metadata only: pip install --dry-run, python -m build --sdist (Cython must not run)"
# From a copy of the files git knows (no build/, no ext/*.c left by an editable install), so
# that Cython, if it ran, would have a .pyx to compile and say so.
mkdir -p "$out/tree"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$out/tree"
"$py" -m pip install -v --dry-run --no-deps --ignore-installed "$out/tree" > "$out/dry-run.log" 2>&1 \
  || { cat "$out/dry-run.log"; fail "pip install --dry-run failed"; }
"$py" -m build --sdist --outdir "$out/dist" "$out/tree" > "$out/sdist.log" 2>&1 \
  || { cat "$out/sdist.log"; fail "python -m build --sdist failed"; }
[ -z "$(ls "$out"/tree/ext/*.c 2>/dev/null)" ] || fail "Cython wrote C for metadata or the sdist"
if grep -n "Cythonizing\|Compiling ext/" "$out/dry-run.log" "$out/sdist.log"; then
  fail "Cython ran for metadata or the sdist"
fi
sdist=$(ls "$out"/dist/mcpauth_fast-*.tar.gz)
echo "$(basename "$sdist")"

step "wheels from the unpacked sdist: compiled (required), then pure (MCPAUTH_FAST_NO_EXTENSIONS=1)"
tar -xzf "$sdist" -C "$out"
unpacked=$(ls -d "$out"/mcpauth_fast-*/)
MCPAUTH_FAST_REQUIRE_EXTENSIONS=1 "$py" -m build --wheel --outdir "$out/dist" "$unpacked" \
  > "$out/wheel.log" 2>&1 || { tail -n 40 "$out/wheel.log"; fail "the platform wheel did not build"; }
MCPAUTH_FAST_NO_EXTENSIONS=1 "$py" -m build --wheel --outdir "$out/pure" "$unpacked" \
  > "$out/pure-wheel.log" 2>&1 || { tail -n 40 "$out/pure-wheel.log"; fail "the pure wheel did not build"; }
wheel=$(ls "$out"/dist/mcpauth_fast-*.whl)
pure=$(ls "$out"/pure/mcpauth_fast-*-py3-none-any.whl) || fail "the pure wheel is not py3-none-any"

step "contents"
"$py" - "$sdist" "$wheel" "$pure" <<'EOF'
import email
import sys
import tarfile
import zipfile

sdist, wheel, pure = sys.argv[1:]
errors = []
with tarfile.open(sdist) as tar:
    names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
print(f"{sdist}: {len(names)} files")
for need in ("LICENSE", "CHANGELOG.md", "README.md", "setup.py", "pyproject.toml",
             "ext/_speedups.pyx", "src/mcpauth_fast/py.typed"):
    if need not in names:
        errors.append(f"sdist lacks {need}")
errors += [f"sdist ships generated C: {n}" for n in names if n.startswith("ext/") and n.endswith(".c")]
errors += [f"sdist ships a binary: {n}" for n in names if n.endswith((".so", ".pyd"))]
errors += [f"sdist ships {n}" for n in names if n.startswith("tests/")]
for path, compiled in ((wheel, True), (pure, False)):
    with zipfile.ZipFile(path) as zf:
        files = zf.namelist()
        meta_name = next(n for n in files if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(zf.read(meta_name))
    print(f"{path}: {len(files)} files")
    for name in files:
        if not name.endswith(".py") or name.endswith("__init__.py"):
            print(f"    {name}")
    has = lambda suffix: any(n.endswith(suffix) for n in files)  # noqa: E731
    if not has(".dist-info/licenses/LICENSE"):
        errors.append(f"{path} lacks LICENSE")
    for need in ("mcpauth_fast/py.typed", "mcpauth_fast/_speedups_py.py", "mcpauth_fast/_accel.py"):
        if need not in files:
            errors.append(f"{path} lacks {need}")
    ext = [n for n in files if n.startswith("mcpauth_fast/_speedups.") and n.endswith((".so", ".pyd"))]
    if compiled != bool(ext):
        errors.append(f"{path}: compiled extension {ext or 'missing'}")
    errors += [f"{path} ships {n}" for n in files if n.endswith((".pyx", ".c", ".h"))]
    if meta["License-Expression"] != "MIT" or meta.get_all("License-File") != ["LICENSE"]:
        errors.append(f"{path}: licence metadata {meta['License-Expression']} {meta.get_all('License-File')}")
    for req in meta.get_all("Requires-Dist") or []:
        if req.startswith("uvicorn") and "extra ==" not in req:
            errors.append(f"{path}: uvicorn is a dependency outside an extra: {req}")
if errors:
    sys.exit("dist-check: " + "\n  ".join(errors))
EOF

# A fresh venv; $1 its directory, the rest what pip installs there with no compiler, wheels only.
fresh_venv() {
  local dir=$1
  shift
  "$py" -m venv "$dir"
  nocc "$dir/bin/python" -m pip install --quiet --only-binary :all: "$@" \
    || fail "installing $* into $dir with no compiler failed"
  if "$dir/bin/python" -c "import Cython" 2>/dev/null; then fail "Cython is installed in $dir"; fi
  # Run from the clone's root, as the suite is: the package must come from the venv, not src/.
  "$dir/bin/python" -c "import sys, mcpauth_fast as m; sys.exit(not m.__file__.startswith(sys.prefix))" \
    || fail "$dir imports mcpauth_fast from outside the venv"
}

suite() {
  local dir=$1 expect=$2
  shift 2
  local impl
  impl=$("$dir/bin/python" -c "import mcpauth_fast._accel as a; print(a.IMPLEMENTATION)")
  [ "$impl" = "$expect" ] || fail "$dir: IMPLEMENTATION=$impl, expected $expect"
  nocc "$@" "$dir/bin/pytest" -q -rfE -p no:cacheprovider
}

step "platform wheel into a fresh venv with no compiler; the suite, compiled extension"
fresh_venv "$out/venv-wheel" "$wheel[test]"
suite "$out/venv-wheel" c env MCPAUTH_FAST_REQUIRE_EXTENSIONS=1

step "pure wheel into a fresh venv with no compiler; the suite, pure Python"
fresh_venv "$out/venv-pure" "$pure[test]"
suite "$out/venv-pure" py env

step "sdist into a fresh venv with a failing compiler: the pure-Python fallback and its warning"
"$py" -m venv "$out/venv-sdist"
nocc "$out/venv-sdist/bin/python" -m pip install -v --only-binary :all: --no-binary mcpauth-fast \
  "$sdist" > "$out/sdist-install.log" 2>&1 \
  || { tail -n 40 "$out/sdist-install.log"; fail "installing the sdist with no compiler failed"; }
grep -A 4 "WARNING: mcpauth-fast: the compiled extension" "$out/sdist-install.log" \
  || fail "no fallback warning in $out/sdist-install.log"
impl=$("$out/venv-sdist/bin/python" -c "import mcpauth_fast._accel as a; print(a.IMPLEMENTATION)")
[ "$impl" = py ] || fail "the sdist installed with no compiler has IMPLEMENTATION=$impl"
"$out/venv-sdist/bin/python" -c "from mcpauth_fast import MCPAuth; import mcpauth_fast.dev.cli"

step "OK: $(basename "$sdist"), $(basename "$wheel"), $(basename "$pure")"
