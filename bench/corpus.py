"""The benchmark corpus: real keys, their JWKs and distinct valid access tokens per algorithm.

Every contender (ours on both implementations, PyJWT, joserfc, mcpauth, the raw
``cryptography`` floor) is given the same tokens and the same key material from here.
Generated once per process (``corpus()`` is cached); ``MCPAUTH_BENCH_TOKENS`` sets how many
tokens each algorithm gets (default 256).
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from mcpauth_fast.dev.bench import private_key
from mcpauth_fast.dev.signing import encode_jws, export_jwk

__all__ = [
    "ALGORITHMS", "AUDIENCE", "ISSUER", "AlgCorpus", "asgi_headers", "corpus", "token_count",
]

#: The algorithms of the issue, in the order the report lists them.
ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA", "HS256")
ISSUER = "https://issuer.example.com"
AUDIENCE = "https://mcp.example.com/mcp"
# Far enough in the future that no run ever sees a token expire.
_TEN_YEARS = 10 * 365 * 24 * 3600


def token_count() -> int:
    return int(os.environ.get("MCPAUTH_BENCH_TOKENS", "256"))


@dataclass(frozen=True)
class AlgCorpus:
    """One algorithm's key, its JWK and its tokens, with the signature parts precomputed."""

    alg: str
    kid: str
    private: Any  # a cryptography private key, or the HMAC secret (bytes)
    jwk: dict[str, Any]  # the public JWK with kid and alg (the oct JWK for HMAC)
    tokens: tuple[str, ...]
    # Per token: (signature bytes as the floor passes them, signing input bytes). For ES256
    # the signature is already DER: the floor is the bare OpenSSL call, nothing else.
    signed: tuple[tuple[bytes, bytes], ...]

    @property
    def secret(self) -> bytes:
        assert isinstance(self.private, bytes)
        return self.private

    @property
    def public(self) -> Any:
        """The cryptography public key (the secret itself for HMAC)."""
        return self.private if isinstance(self.private, bytes) else self.private.public_key()


def claims(now: int, index: int) -> dict[str, Any]:
    """The claims of an MCP access token (RFC 9068 shape); ``index`` makes each one distinct."""
    return {
        "iss": ISSUER,
        "sub": f"user-{index % 97}",
        "aud": AUDIENCE,
        "exp": now + _TEN_YEARS,
        "iat": now,
        "scope": "mcp:tools mcp:resources read write",
        "client_id": "bench-client",
        "jti": f"{index:08x}-5c1e-4f6a-9b1d-{now:012x}",
    }


def _floor_signature(alg: str, signature: bytes) -> bytes:
    if alg == "ES256":
        return encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
    return signature


def _build(alg: str, count: int) -> AlgCorpus:
    kid = f"bench-{alg.lower()}"
    private = private_key(alg)
    jwk = {**export_jwk(private), "kid": kid, "alg": alg}
    if alg != "HS256":
        jwk["use"] = "sig"
    header = {"alg": alg, "typ": "at+jwt", "kid": kid}
    now = int(time.time())
    tokens = []
    signed = []
    for index in range(count):
        token = encode_jws(header, claims(now, index), private)
        signing_input, _, sig_b64 = token.rpartition(".")
        signature = base64.urlsafe_b64decode(sig_b64 + "=" * (-len(sig_b64) % 4))
        tokens.append(token)
        signed.append((_floor_signature(alg, signature), signing_input.encode("ascii")))
    return AlgCorpus(alg, kid, private, jwk, tuple(tokens), tuple(signed))


@cache
def corpus(count: int | None = None) -> dict[str, AlgCorpus]:
    """``{alg: AlgCorpus}`` for every algorithm of :data:`ALGORITHMS`, built once."""
    n = token_count() if count is None else count
    if n < 2:
        raise ValueError("MCPAUTH_BENCH_TOKENS must be at least 2")
    return {alg: _build(alg, n) for alg in ALGORITHMS}


def asgi_headers(token: str) -> list[tuple[bytes, bytes]]:
    """The raw ``scope["headers"]`` of an MCP streamable-HTTP POST as uvicorn hands it over."""
    return [
        (b"host", b"mcp.example.com"),
        (b"user-agent", b"python-httpx/0.28.1"),
        (b"accept", b"application/json, text/event-stream"),
        (b"accept-encoding", b"gzip, deflate"),
        (b"connection", b"keep-alive"),
        (b"content-type", b"application/json"),
        (b"content-length", b"187"),
        (b"mcp-protocol-version", b"2025-06-18"),
        (b"mcp-session-id", b"6f1c2a9e0b7d4e2f8a3c5d6e7f809a1b"),
        (b"authorization", b"Bearer " + token.encode("ascii")),
        (b"x-request-id", b"0d5b1a2c-3e4f-5a6b-7c8d-9e0f1a2b3c4d"),
    ]
