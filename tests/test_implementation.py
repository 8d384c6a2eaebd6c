"""The dispatcher loads the compiled hot path whenever it should."""

from __future__ import annotations

import inspect

from support.implementations import NO_EXTENSIONS, REQUIRE_EXTENSIONS, compiled_module

from mcpauth_fast import _accel, _speedups_py

EXPORTED = [
    "BearerLookup",
    "DEFAULT_MAX_TOKEN_BYTES", "MAX_HEADER_SEGMENT", "MAX_SIGNATURE_SEGMENT", "MAX_KID_LENGTH",
    "find_authorization", "parse_bearer", "bearer_token", "b64url_decode", "decode_jws",
    "check_header", "check_time_claims", "extract_scopes", "check_policy", "TokenCache",
    "TokenChecks", "HEADER_MEMO_SIZE", "auth_info_from_claims", "VerifySteps", "ecdsa_der",
    "Unverified",
]


def test_dispatcher_picks_the_expected_implementation() -> None:
    if NO_EXTENSIONS:
        assert _accel.IMPLEMENTATION == "py"
        assert _accel.TokenCache is _speedups_py.TokenCache
    elif REQUIRE_EXTENSIONS:
        assert _accel.IMPLEMENTATION == "c", "the compiled extension should have loaded"
        assert type(_accel.parse_bearer).__name__ in {"cython_function_or_method",
                                                      "builtin_function_or_method"}


def test_both_implementations_export_the_same_names_and_docs() -> None:
    assert sorted(_speedups_py.__all__) == sorted(EXPORTED)
    compiled = compiled_module()
    for name in EXPORTED:
        assert getattr(_accel, name) is not None
        if compiled is None:
            continue
        c_obj, py_obj = getattr(compiled, name), getattr(_speedups_py, name)
        if isinstance(py_obj, int):
            assert c_obj == py_obj, name
        else:
            assert inspect.getdoc(c_obj) == inspect.getdoc(py_obj), name
    if compiled is not None:
        for method in ("get", "put", "evict_kid", "clear", "info"):
            assert inspect.getdoc(getattr(compiled.TokenCache, method)) == inspect.getdoc(
                getattr(_speedups_py.TokenCache, method)), method
        assert inspect.getdoc(compiled.BearerLookup.lookup) == inspect.getdoc(
            _speedups_py.BearerLookup.lookup)
