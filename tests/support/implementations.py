"""Which implementation of the hot path the tests run on: the compiled one, the twin, or both."""

from __future__ import annotations

import os
from types import ModuleType

NO_EXTENSIONS = bool(os.environ.get("MCPAUTH_FAST_NO_EXTENSIONS"))
REQUIRE_EXTENSIONS = bool(os.environ.get("MCPAUTH_FAST_REQUIRE_EXTENSIONS"))


def compiled_module() -> ModuleType | None:
    """The compiled hot path, or None when it is switched off or not built."""
    if NO_EXTENSIONS:
        return None
    try:
        from mcpauth_fast import _speedups  # type: ignore[attr-defined]
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise
        return None
    return _speedups  # type: ignore[no-any-return]
