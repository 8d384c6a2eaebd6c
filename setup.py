"""Declares the compiled hot path; everything else is in pyproject.toml.

- ``MCPAUTH_FAST_NO_EXTENSIONS=1`` builds a pure-Python package (a ``py3-none-any`` wheel); the
  twin in src/mcpauth_fast/_speedups_py.py is then used.
- Cython runs only when the extension is built (``build_ext``), never when only metadata or an
  sdist is asked for (``egg_info``, ``dist_info``, ``sdist``, ``pip install --dry-run``).
- A missing or failing C compiler gives the pure-Python package with a warning, so ``pip install``
  works anywhere; ``MCPAUTH_FAST_REQUIRE_EXTENSIONS=1`` makes it an error (CI, cibuildwheel).
"""

from __future__ import annotations

import os
import sys
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

NO_EXTENSIONS = bool(os.environ.get("MCPAUTH_FAST_NO_EXTENSIONS"))
REQUIRE_EXTENSIONS = bool(os.environ.get("MCPAUTH_FAST_REQUIRE_EXTENSIONS"))

FALLBACK_WARNING = """
********************************************************************************
WARNING: mcpauth-fast: the compiled extension mcpauth_fast._speedups was not built:
    {reason}
The pure-Python implementation is installed instead: the same results and errors,
more CPU time per request. To get the compiled one, install a C compiler and the
Python headers, then reinstall. MCPAUTH_FAST_REQUIRE_EXTENSIONS=1 makes this an error.
********************************************************************************
"""


def fall_back(reason: object) -> None:
    sys.stderr.write(FALLBACK_WARNING.format(reason=reason))
    sys.stderr.flush()


class BuildExt(build_ext):
    """Cythonizes when the extension is built, not before; a compiler failure is not fatal."""

    def run(self) -> None:
        if self.extensions:
            try:
                from Cython.Build import cythonize
            except ImportError:
                if REQUIRE_EXTENSIONS:
                    raise
                fall_back("Cython is not installed (it is in [build-system].requires)")
                self.extensions[:] = []
                return
            # Only the sources change: build_ext.finalize_options has already prepared these
            # Extension objects, and cythonize returns new ones.
            generated = cythonize(self.extensions, compiler_directives={"language_level": "3"})
            sources = {ext.name: ext.sources for ext in generated}
            for ext in self.extensions:
                ext.sources = sources[ext.name]
        super().run()

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except (CCompilerError, ExecError, PlatformError) as exc:
            # optional is False under MCPAUTH_FAST_REQUIRE_EXTENSIONS. Skipping an optional
            # extension is what setuptools' build_ext and editable installs already handle.
            if not ext.optional:
                raise
            fall_back(f"{type(exc).__name__}: {exc}")


ext_modules = []
if not NO_EXTENSIONS:
    ext_modules.append(Extension(
        "mcpauth_fast._speedups", ["ext/_speedups.pyx"], include_dirs=["ext"],
        depends=sorted(glob("ext/*.h") + glob("ext/*.pxi")), optional=not REQUIRE_EXTENSIONS,
    ))

setup(ext_modules=ext_modules, cmdclass={"build_ext": BuildExt})
