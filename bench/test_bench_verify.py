"""Whole verifications per algorithm: ours on both implementations, the floors and the peers.

Cold (row ``cold <alg>``): a different token every call, cycling over the corpus (256 tokens
by default) through a verifier whose cache holds 64, so every call misses, verifies the
signature and also pays the insert and the eviction. Floor: the bare ``cryptography`` verify
of the same signatures with precomputed arguments (``contenders.crypto_floor``). The row also
has a reference, ``bare JWS``: split, base64url, orjson and the same verify, nothing else,
and for RS256 ``our signature check``: the RSASSA-PKCS1-v1_5 check mcpauth-fast makes
(``keys.py``: recover and compare, cheaper than ``verify()``) on the floor's arguments.

Warm (row ``warm <alg>``): the same token every call, already verified: ``cached(token)`` and
``verify_sync(token)`` (both read the clock and hit the cache). Floor: ``dict.get(token)``.
The peers keep no cache: their warm cost is their cold cost.

One benchmark round is a batch of calls driven from C (``contenders.batch``): COLD_BATCH
tokens in a cold row, WARM_BATCH calls in a warm row; the report divides by the batch.
Each contender's rounds alternate with rounds of its row's floor (the ``measure`` fixture), and
the ratio is taken between those; the floor is also benchmarked on its own, first and last in
the row, for pytest-benchmark's table.
"""

from __future__ import annotations

from typing import Any

import pytest
from contenders import (
    COLD_CACHE_SIZE,
    PEERS,
    Measure,
    bare_jws,
    batch,
    crypto_floor,
    cycled,
    hot_path_modules,
    make_verifier,
    our_primitive,
    peer,
    repeated,
)
from corpus import ALGORITHMS, corpus

from mcpauth_fast.dev.bench import COLD_TARGETS, WARM_TARGET

MODULES = hot_path_modules()
COLD_BATCH = 4  # 20-600 us rounds: short enough to fall between preemptions
WARM_BATCH = 400
#: The targets, for the compiled implementation: ratio to the row's floor (one definition).
COLD_TARGET = COLD_TARGETS
# joserfc warns on every EdDSA token (RFC 9864 deprecates the name); the warning is ignored,
# its cost (a warnings.warn call per token) stays in joserfc's figure.
_JOSERFC_EDDSA = pytest.mark.filterwarnings(
    "ignore:EdDSA is deprecated:joserfc.errors.SecurityWarning"
)


def _cold_params() -> list[Any]:
    params: list[Any] = []
    for alg in ALGORITHMS:
        params.append(pytest.param(alg, "floor", id=f"{alg}-cryptography"))
        params.extend(pytest.param(alg, impl, id=f"{alg}-ours-{impl}") for impl in MODULES)
        params.append(pytest.param(alg, "bare", id=f"{alg}-bare-jws"))
        if alg.startswith("RS"):
            params.append(pytest.param(alg, "primitive", id=f"{alg}-our-primitive"))
        for name in PEERS:
            marks = [_JOSERFC_EDDSA] if (name, alg) == ("joserfc", "EdDSA") else []
            params.append(pytest.param(alg, name, id=f"{alg}-{name}", marks=marks))
        params.append(pytest.param(alg, "floor-last", id=f"{alg}-cryptography-last"))
    return params


def _warm_params() -> list[Any]:
    params: list[Any] = []
    for alg in ALGORITHMS:
        params.append(pytest.param(alg, "floor", "", id=f"{alg}-dict.get"))
        for method in ("cached", "verify_sync"):
            params.extend(
                pytest.param(alg, impl, method, id=f"{alg}-{method}-{impl}") for impl in MODULES
            )
        params.append(pytest.param(alg, "floor-last", "", id=f"{alg}-dict.get-last"))
    return params


@pytest.mark.parametrize(("alg", "contender"), _cold_params())
def test_cold(benchmark: Any, measure: Measure, alg: str, contender: str) -> None:
    c = corpus()[alg]
    row = f"cold {alg}"
    benchmark.group = row
    info: dict[str, Any] = {"row": row, "alg": alg, "batch": COLD_BATCH}
    verifier = None
    if contender.startswith("floor"):
        run = batch(crypto_floor(c), cycled(c.signed, COLD_BATCH), star=True)
        where = "last" if contender == "floor-last" else "first"
        info.update(contender=f"cryptography verify ({where})", role="floor")
    elif contender in MODULES:
        assert len(c.tokens) > COLD_CACHE_SIZE, "the token cycle must be longer than the cache"
        verifier = make_verifier(c, MODULES[contender], COLD_CACHE_SIZE)
        run = batch(verifier.verify_sync, cycled(c.tokens, COLD_BATCH))
        info.update(contender=f"verify_sync [{contender}]", role="ours", impl=contender,
                    target=COLD_TARGET.get(alg) if contender == "c" else None)
    elif contender == "primitive":
        run = batch(our_primitive(c), cycled(c.signed, COLD_BATCH), star=True)
        info.update(contender="our signature check (reference)", role="reference")
    elif contender == "bare":
        impl = "c" if "c" in MODULES else "py"
        run = batch(bare_jws(c, MODULES[impl]), cycled(c.tokens, COLD_BATCH))
        info.update(contender=f"bare JWS (reference) [{impl}]", role="reference")
    else:
        run = batch(peer(contender, c), cycled(c.tokens, COLD_BATCH))
        info.update(contender=contender, role="peer")
    benchmark.extra_info.update(info)
    if info["role"] == "floor":
        measure(run)
    else:
        floor = batch(crypto_floor(c), cycled(c.signed, COLD_BATCH), star=True)
        measure(run, floor, COLD_BATCH)
    if verifier is not None:
        assert verifier.cache.info()["hits"] == 0, "a cold verify hit the cache"


@pytest.mark.parametrize(("alg", "contender", "method"), _warm_params())
def test_warm(benchmark: Any, measure: Measure, alg: str, contender: str, method: str) -> None:
    c = corpus()[alg]
    token = c.tokens[0]
    row = f"warm {alg}"
    benchmark.group = row
    info: dict[str, Any] = {"row": row, "alg": alg, "batch": WARM_BATCH}
    table = {token: object()}
    floor = batch(table.get, repeated(token, WARM_BATCH))
    if contender.startswith("floor"):
        where = "last" if contender == "floor-last" else "first"
        info.update(contender=f"dict.get ({where})", role="floor")
        benchmark.extra_info.update(info)
        measure(floor)
        return
    verifier = make_verifier(c, MODULES[contender], 4096)
    expected = verifier.verify_sync(token)
    function = getattr(verifier, method)
    assert function(token) is expected
    info.update(contender=f"{method} [{contender}]", role="ours", impl=contender,
                target=WARM_TARGET if contender == "c" else None)
    benchmark.extra_info.update(info)
    measure(batch(function, repeated(token, WARM_BATCH)), floor, WARM_BATCH)
    assert verifier.cache.info()["misses"] == 1  # the priming verify_sync only
