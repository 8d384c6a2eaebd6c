"""Per-request pieces of the hot path, on the compiled module and on the pure twin.

Floor: ``dict.get`` on the same token, run in alternation with each piece's rounds (the
``measure`` fixture), and benchmarked on its own first and last in the row. Every piece gets
realistic input: an RS256 access token of the corpus, the header list an MCP client sends, the
policy of a server with one issuer, one audience and one scope.
One round is a batch of calls driven from C (``contenders.batch``), about 100 us of them
(``contenders.batch_size``); the report divides by the batch.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import pytest
from contenders import Measure, batch, batch_size, hot_path_modules, repeated
from corpus import AUDIENCE, ISSUER, asgi_headers, corpus

from mcpauth_fast.types import AuthInfo

ROW = "hot path (per request)"
FLOOR_BATCH = 1000
MODULES = hot_path_modules()
PIECES = (
    "bearer_token", "decode_jws", "check_header", "check_time_claims", "extract_scopes",
    "check_policy", "TokenCache.get_hit", "warm_request",
)
TRUSTED = frozenset({ISSUER})
AUDIENCES = frozenset({AUDIENCE})
REQUIRED = (("mcp:tools",),)
ALGORITHMS = frozenset({"RS256"})


def _token() -> str:
    return corpus()["RS256"].tokens[0]


class _Info:
    """The AuthInfo fields the policy reads (the cache returns whatever it was given)."""

    __slots__ = ("issuer", "audience", "scopes")

    def __init__(self, issuer: str, audience: str, scopes: tuple[str, ...]) -> None:
        self.issuer, self.audience, self.scopes = issuer, audience, scopes


def _call(piece: str, mod: ModuleType) -> tuple[Any, tuple[Any, ...]]:
    """``(function, args)`` of one piece on one implementation."""
    token = _token()
    header, payload, _, _ = mod.decode_jws(token)
    now = time.time()
    if piece == "bearer_token":
        return mod.bearer_token, (asgi_headers(token),)
    if piece == "decode_jws":
        return mod.decode_jws, (token,)
    if piece == "check_header":
        return mod.check_header, (header, ALGORITHMS, None)
    if piece == "check_time_claims":
        return mod.check_time_claims, (payload, now, 60.0, True, None)
    if piece == "extract_scopes":
        return mod.extract_scopes, (payload,)
    scopes = mod.extract_scopes(payload)
    if piece == "check_policy":
        return mod.check_policy, (ISSUER, AUDIENCE, scopes, TRUSTED, AUDIENCES, REQUIRED)
    cache = mod.TokenCache(4096)
    info = _Info(ISSUER, AUDIENCE, scopes)
    cache.put(token, info, float(payload["exp"]), (ISSUER, "kid"))
    if piece == "TokenCache.get_hit":
        return cache.get, (token, now)
    # What the middleware does for a request whose token it has seen: one BearerLookup call
    # (the bearer token of the headers, the cache hit at the wall clock, the policy check)
    # on what the verifier caches, an AuthInfo.
    cache.put(token, AuthInfo(token=token, issuer=ISSUER, subject="bench", claims={},
                              scopes=scopes, audience=AUDIENCE), float(payload["exp"]),
              (ISSUER, "kid"))
    lookup = mod.BearerLookup(cache, mod.DEFAULT_MAX_TOKEN_BYTES, TRUSTED, AUDIENCES,
                              REQUIRED).lookup
    assert isinstance(lookup(asgi_headers(token)), AuthInfo), "the warm request must hit"
    return lookup, (asgi_headers(token),)


def _floor() -> Any:
    token = _token()
    return batch({token: object()}.get, repeated(token, FLOOR_BATCH))


def _dict_floor(benchmark: Any, measure: Measure, where: str) -> None:
    benchmark.group = ROW
    benchmark.extra_info.update(
        row=ROW, contender=f"dict.get ({where})", role="floor", batch=FLOOR_BATCH
    )
    measure(_floor())


def test_floor_first(benchmark: Any, measure: Measure) -> None:
    _dict_floor(benchmark, measure, "first")


@pytest.mark.parametrize("impl", list(MODULES))
@pytest.mark.parametrize("piece", PIECES)
def test_piece(benchmark: Any, measure: Measure, piece: str, impl: str) -> None:
    function, args = _call(piece, MODULES[impl])
    function(*args)  # it works on this input before it is timed
    size = batch_size(function, args)
    benchmark.group = ROW
    benchmark.extra_info.update(
        row=ROW, contender=f"{piece} [{impl}]", role="ours", impl=impl, batch=size
    )
    measure(batch(function, repeated(args, size), star=True), _floor(), FLOOR_BATCH)


def test_floor_last(benchmark: Any, measure: Measure) -> None:
    _dict_floor(benchmark, measure, "last")
