"""Every behavioural test of the hot path runs on both implementations."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from types import ModuleType

import pytest
import tokens

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

_CLIENT_LOGGERS = ("httpx", "httpcore", "httpx2", "httpcore2")


@pytest.fixture(autouse=True)
def no_token_or_key_in_any_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test runs with DEBUG logging; no record may carry a token or key material."""
    first_token = len(tokens.MINTED)
    caplog.set_level(logging.DEBUG)
    yield
    # The HTTP clients the tests send tokens with may log their own requests (a token in a
    # query string, in a test that checks it is refused); everything else may not.
    records = [r for r in caplog.get_records("setup") + caplog.get_records("call")
               if not r.name.startswith(_CLIENT_LOGGERS)]
    if not records:
        return
    text = "\n".join(record.getMessage() for record in records)
    for secret in tokens.MINTED[first_token:] + tokens.KEY_MATERIAL:
        assert secret not in text, "a token or key material reached a log record"
        signature = secret.rpartition(".")[2]
        assert len(signature) < 16 or signature not in text, "a token's signature was logged"
