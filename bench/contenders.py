"""The contenders of a benchmark row, each a callable built on the same corpus entry.

- ours: ``JwtVerifier`` on the compiled hot path (``c``) and on the pure twin (``py``), side by
  side in one process. The twin's verifier is a private copy of ``mcpauth_fast.verifier``
  whose hot-path names point at ``_speedups_py``; the real module is never patched.
- floors: the bare ``cryptography`` verify of the same signature with every argument
  precomputed (no base64url decode, no DER encoding: the signature bytes are ready), and
  ``dict.get`` on the same token.
- peers: PyJWT ``jwt.decode``, joserfc ``jwt.decode`` + ``JWTClaimsRegistry.validate``, and
  mcpauth 0.1.1's ``create_verify_jwt(PyJWK(jwk))``, on the same tokens and keys.

A benchmark round is a batch built by :func:`batch`: a cold row cycles over the corpus, so each
call sees a token it did not see just before (the floor cycles over the same signatures), a
warm row repeats one token.
"""

from __future__ import annotations

import collections
import hmac
import importlib.util
import itertools
import sys
import time
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any

import orjson
from corpus import AlgCorpus
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

import mcpauth_fast.verifier as _verifier
from mcpauth_fast import _accel, _speedups_py
from mcpauth_fast.keys import hmac_key, key_from_jwk
from mcpauth_fast.keysets import StaticKeys

__all__ = [
    "COLD_CACHE_SIZE", "PEERS", "Measure", "bare_jws", "batch", "batch_size", "compiled_module",
    "crypto_floor", "cycled", "hot_path_modules", "make_verifier", "our_primitive", "peer",
    "repeated", "verifier_class",
]

#: The ``measure`` fixture of conftest.py: ``measure(run, floor=None, floor_batch=1)``.
Measure = Callable[..., None]
#: The cold verifier's cache: smaller than the token cycle, so every lookup misses and every
#: verification also pays the insert and the LRU eviction, as distinct tokens would.
COLD_CACHE_SIZE = 64
PEERS = ("pyjwt", "joserfc", "mcpauth")


def compiled_module() -> ModuleType | None:
    """``mcpauth_fast._speedups``, or None when it is not built."""
    try:
        from mcpauth_fast import _speedups
    except ImportError:
        return None
    return _speedups


def hot_path_modules() -> dict[str, ModuleType]:
    """``{"c": compiled, "py": twin}``; ``c`` is missing when the extension is not built."""
    modules: dict[str, ModuleType] = {}
    compiled = compiled_module()
    if compiled is not None:
        modules["c"] = compiled
    modules["py"] = _speedups_py
    return modules


_classes: dict[str, type[Any]] = {}


def verifier_class(hot_path: ModuleType) -> type[Any]:
    """``JwtVerifier`` running on ``hot_path`` (the real class when it is the dispatched one)."""
    if hot_path is _accel._impl:
        return _verifier.JwtVerifier
    name = f"mcpauth_fast._bench_verifier_{hot_path.__name__.rpartition('.')[2]}"
    cls = _classes.get(name)
    if cls is None:
        spec = importlib.util.spec_from_file_location(name, _verifier.__file__)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        module.__package__ = "mcpauth_fast"
        sys.modules[name] = module
        spec.loader.exec_module(module)
        # Every name the copy took from the dispatcher now comes from ``hot_path`` instead.
        for attr in _accel.__all__:
            if attr in vars(module) and getattr(module, attr) is getattr(_accel, attr):
                setattr(module, attr, getattr(hot_path, attr))
        cls = _classes[name] = module.JwtVerifier
    return cls


def make_verifier(c: AlgCorpus, hot_path: ModuleType, cache_size: int) -> Any:
    """A verifier of ``c``'s algorithm on ``hot_path`` with the corpus key (static keys)."""
    if c.alg == "HS256":
        keys = StaticKeys([hmac_key(c.secret, kid=c.kid, alg="HS256")])
    else:
        keys = StaticKeys({"keys": [c.jwk]})
    verifier = verifier_class(hot_path)(keys, algorithms=[c.alg], cache_size=cache_size)
    cache_module = type(verifier.cache).__module__
    assert cache_module == hot_path.__name__, (cache_module, hot_path.__name__)
    return verifier


def crypto_floor(c: AlgCorpus) -> Callable[[bytes, bytes], None]:
    """``verify(signature, signing_input)``: the bare primitive, arguments precomputed.

    RSA: ``public_key.verify(sig, data, padding, hash)``; ES256: the same with a DER signature
    prepared in advance; EdDSA: ``public_key.verify(sig, data)``; HS256 (no public key):
    OpenSSL's one-shot ``hmac.digest`` and ``hmac.compare_digest``, the cheapest correct check.
    """
    public = c.public
    if c.alg == "RS256":
        pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()
        verify = public.verify

        def rs256(sig: bytes, data: bytes) -> None:
            verify(sig, data, pkcs1, sha256)

        return rs256
    if c.alg == "PS256":
        sha = hashes.SHA256()
        pss = padding.PSS(mgf=padding.MGF1(sha), salt_length=sha.digest_size)
        verify = public.verify

        def ps256(sig: bytes, data: bytes) -> None:
            verify(sig, data, pss, sha)

        return ps256
    if c.alg == "ES256":
        ecdsa = ec.ECDSA(hashes.SHA256())
        verify = public.verify

        def es256(sig: bytes, data: bytes) -> None:
            verify(sig, data, ecdsa)

        return es256
    if c.alg == "EdDSA":
        verify_ed: Callable[[bytes, bytes], None] = public.verify
        return verify_ed
    secret = c.secret
    digest, compare = hmac.digest, hmac.compare_digest

    def hs256(sig: bytes, data: bytes) -> None:
        if not compare(digest(secret, data, "sha256"), sig):
            raise ValueError("bad HMAC")

    return hs256


def peer(name: str, c: AlgCorpus) -> Callable[[str], Any]:
    """A peer library's verify of one token, configured as its documentation shows."""
    algorithms = [c.alg]
    if name == "pyjwt":
        import jwt

        decode, key = jwt.decode, c.public
        options: Any = {"verify_aud": False}
        return lambda token: decode(token, key, algorithms=algorithms, options=options)
    if name == "joserfc":
        from joserfc import jwt as jjwt
        from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

        jkey: Any
        if c.alg == "HS256":
            jkey = OctKey.import_key(c.secret)
        else:
            key_class: Any = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}[c.jwk["kty"]]
            jkey = key_class.import_key(c.jwk)
        jdecode, registry = jjwt.decode, jjwt.JWTClaimsRegistry(leeway=60)

        def joserfc_verify(token: str) -> Any:
            claims = jdecode(token, jkey, algorithms=algorithms).claims
            registry.validate(claims)  # exp, nbf, iat: what the others check too
            return claims

        return joserfc_verify
    if name == "mcpauth":
        from jwt import PyJWK
        from mcpauth.utils import create_verify_jwt

        verify: Callable[[str], Any] = create_verify_jwt(PyJWK(c.jwk), algorithms=algorithms)
        return verify
    raise ValueError(name)


def batch(function: Callable[..., Any], inputs: Callable[[], Iterable[Any]],
          star: bool = False) -> Callable[[], None]:
    """A round of calls ``function(x)`` (``function(*x)`` with ``star``) for ``x`` in ``inputs()``.

    The loop runs in C (``map`` drained by a zero-length ``deque``), so the driver adds the
    same few nanoseconds to every contender and the floor, far less than pytest-benchmark's
    ``f(*args, **kwargs)`` per iteration would.
    """
    mapper = itertools.starmap if star else map
    drain = collections.deque

    def run() -> None:
        drain(mapper(function, inputs()), 0)

    return run


def batch_size(function: Callable[..., Any], args: tuple[Any, ...], seconds: float = 1e-4) -> int:
    """How many calls of ``function(*args)`` last about ``seconds`` (1 to 1000).

    Rounds that short (100 us) usually fit between two preemptions of a busy machine, so
    the fastest round is an undisturbed one.
    """
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            function(*args)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 10 or n >= 1000:
            return max(1, min(1000, int(n * seconds / max(elapsed, 1e-9))))
        n *= 10


def repeated(item: Any, count: int) -> Callable[[], Iterable[Any]]:
    """``count`` times the same input (warm rows, hot-path pieces)."""
    return lambda: itertools.repeat(item, count)


def cycled(items: Iterable[Any], count: int) -> Callable[[], Iterable[Any]]:
    """The next ``count`` inputs of an endless cycle over ``items`` (cold rows)."""
    endless = itertools.cycle(items)
    return lambda: itertools.islice(endless, count)


def our_primitive(c: AlgCorpus) -> Callable[[bytes, bytes], None]:
    """``verify(signature, signing_input)`` as a ``VerificationKey`` of ``c``'s JWK makes it:
    for RS256, recovering the signed DigestInfo and comparing it (``keys.py``), not
    ``public_key.verify``. A reference beside the floor: the same arguments, our primitive."""
    check: Callable[[bytes, bytes], None] = key_from_jwk(c.jwk)._verifiers[c.alg]
    return check


def bare_jws(c: AlgCorpus, hot_path: ModuleType) -> Callable[[str], None]:
    """The least any JWT verifier does: split, base64url-decode, parse both JSON parts, verify.

    A reference, not a floor: ``hot_path``'s strict base64url decoder and orjson, the same
    precomputed primitive as :func:`crypto_floor` plus the DER conversion ES256 needs; no
    header or claim checks, no key lookup, no AuthInfo, no cache.
    """
    b64 = hot_path.b64url_decode
    loads = orjson.loads
    verify = crypto_floor(c)
    raw_ecdsa = c.alg == "ES256"

    def run(token: str) -> None:
        header, payload, signature = token.split(".")
        loads(b64(header))
        loads(b64(payload))
        sig = b64(signature)
        if raw_ecdsa:
            sig = encode_dss_signature(
                int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            )
        verify(sig, f"{header}.{payload}".encode("ascii"))

    return run
