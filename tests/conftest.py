"""Every behavioural test of the hot path runs on both implementations."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from types import ModuleType

import pytest
from support import tokens
from support.implementations import compiled_module
from support.jwks_server import jwks_server  # noqa: F401 - a fixture for every test module
from support.redis_cluster import (  # noqa: F401 - fixtures for every test module
    _module_redis_cluster,
    empty_redis_cluster,
    redis_cluster,
)
from support.redis_server import redis_server  # noqa: F401 - a fixture for every test module

from mcpauth_fast import _speedups_py


@pytest.fixture(params=["c", "py"], scope="session")
def speedups(request: pytest.FixtureRequest) -> ModuleType:
    if request.param == "py":
        return _speedups_py
    module = compiled_module()
    if module is None:
        pytest.skip("the compiled extension is switched off or not built")
    return module



# fastmcp (tests/test_fastmcp.py, imported at collection) installs camelCase aliases on the MCP
# SDK's types for the whole process, each warning when read: the other tests read the SDK's
# own names, falling back to 1.x's (``getattr(result, "is_error", getattr(result,
# "isError", ...))``), which must not warn. Its setting, read when fastmcp loads, turns them off.
os.environ.setdefault("FASTMCP_MCP_CAMELCASE_COMPAT", "false")

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
