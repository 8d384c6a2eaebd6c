"""No log line, at any level, carries a token or key material."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from support.jwks_server import JwksServer
from support.tokens import claims, signing_key

from mcpauth_fast.exceptions import MCPAuthException
from mcpauth_fast.jwks import RemoteJwks, StaticKeys
from mcpauth_fast.keys import hmac_key
from mcpauth_fast.verifier import JwtVerifier


def test_failures_log_no_token_and_no_key(jwks_server: JwksServer,
                                          caplog: pytest.LogCaptureFixture) -> None:
    rsa, ec, hs = signing_key("RS256"), signing_key("ES256"), signing_key("HS256")
    secrets = [rsa.jwk()["n"], ec.jwk()["x"], ec.jwk()["y"], hs.jwk()["k"]]
    bad_jwks = {"keys": [dict(rsa.jwk(), e="!!"), dict(ec.jwk(), crv="P-999"),
                         {"kty": "oct", "k": hs.jwk()["k"]}, rsa.jwk()]}
    now = time.time()
    tokens = [
        rsa.mint(claims(now)),
        rsa.mint(claims(now, exp=int(now) - 1000)),
        rsa.mint(claims(now), kid="unknown"),
        ec.mint(claims(now)),
        hs.mint(claims(now)),
        rsa.mint(claims(now))[:-5] + "AAAAA",
        "not-a-token",
    ]
    with caplog.at_level(logging.DEBUG):
        static = JwtVerifier(StaticKeys(bad_jwks), algorithms=["RS256", "ES256", "HS256"])
        hmac_verifier = JwtVerifier(StaticKeys([hmac_key(hs.private, kid="x")]),
                                    algorithms=["HS256"])
        jwks_server.document = bad_jwks
        remote = RemoteJwks(jwks_server.url, timeout=1.0)

        async def main() -> None:
            for verifier in (static, hmac_verifier, JwtVerifier(remote)):
                for token in tokens:
                    try:
                        await verifier.verify(token)
                    except MCPAuthException as exc:
                        logging.getLogger("test").debug("refused: %s", exc.to_json(True))
            jwks_server.mode = "garbage"
            await remote.aclose()

        asyncio.run(main())
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "skipped a key" in text          # the problems were logged ...
    for secret in secrets + tokens[:-1]:
        assert secret not in text            # ... without the material
    for token in tokens[:-1]:
        for part in token.split("."):
            assert part not in text
