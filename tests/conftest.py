"""Every behavioural test of the hot path runs on both implementations."""

from __future__ import annotations

import os
from types import ModuleType

import pytest

from mcpauth_fast import _speedups_py

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


@pytest.fixture(params=["c", "py"], scope="session")
def speedups(request: pytest.FixtureRequest) -> ModuleType:
    if request.param == "py":
        return _speedups_py
    module = compiled_module()
    if module is None:
        pytest.skip("the compiled extension is switched off or not built")
    return module


from jwks_server import jwks_server  # noqa: E402,F401 - a fixture for every test module
