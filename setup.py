"""Declares the compiled hot path; everything else is in pyproject.toml.

MCPAUTH_FAST_NO_EXTENSIONS=1 builds a pure-Python package (the twin in
src/mcpauth_fast/_speedups_py.py is then used).
"""

import glob
import os

from setuptools import Extension, setup

ext_modules = []
if not os.environ.get("MCPAUTH_FAST_NO_EXTENSIONS"):
    from Cython.Build import cythonize

    ext_modules = cythonize(
        [Extension("mcpauth_fast._speedups", ["ext/_speedups.pyx"], include_dirs=["ext"],
                   depends=["ext/_helpers.h", *glob.glob("ext/*.pxi")])],
        compiler_directives={"language_level": "3"},
    )

setup(ext_modules=ext_modules)
