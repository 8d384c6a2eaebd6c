"""Issue 15 item 6: a token sent in two places (RFC 6750 section 2) gets 400 invalid_request,
and the header scan that tells which requests need a look (``request_flags``).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest
from support.app_factory import RESOURCE, resource_mode
from support.jwks_server import JwksServer
from support.raw_asgi import request
from support.tokens import claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast._limits import MAX_FORM_BODY_BYTES
from mcpauth_fast.middleware.request_flags import FORM_BODY, ORIGIN_HEADER, request_flags

TWO_METHODS = ("The request sends an access token in more than one way. Please send it in the "
               "`Authorization` header only.")
FORM = b"application/x-www-form-urlencoded"
CHALLENGE = (f'Bearer error="invalid_request", error_description="{TWO_METHODS}", '
             'resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource'
             '/mcp"')


def bearer() -> tuple[bytes, bytes]:
    return b"authorization", f"Bearer {signing_key('ES256').mint(claims(time.time()))}".encode()


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """Answers the body it read, message by message (as a digest of each)."""
    digests = []
    while True:
        message = await receive()
        digests.append(hashlib.sha256(message.get("body", b"")).hexdigest()[:8])
        if not message.get("more_body", False):
            break
    body = ",".join(digests).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def app(jwks_server: JwksServer) -> Any:
    mcp_auth: MCPAuth = resource_mode(jwks_server)
    return mcp_auth.bearer_auth_middleware("jwt", resource=RESOURCE)(echo)


def two_methods(answer: Any) -> None:
    assert (answer.status, answer.json()) == (400, {"error": "invalid_request",
                                                    "error_description": TWO_METHODS})
    assert answer.headers == {"content-type": "application/json", "cache-control": "no-store",
                              "www-authenticate": CHALLENGE,
                              "content-length": str(len(answer.body))}


@pytest.mark.parametrize("query", [
    b"access_token=abc", b"x=1&access_token=", b"access_token", b"access%5Ftoken=abc",
    b"%61ccess_token=x", b"a=b&access_token=x&c=d",
])
async def test_a_token_in_the_query_as_well_is_400(app: Any, query: bytes) -> None:
    two_methods(await request(app, [bearer()], query_string=query))


@pytest.mark.parametrize("query", [
    b"x=1", b"q=access_token", b"access_tokens=1", b"my_access_token=1", b"Access_Token=1",
    b"%ff%fe=%00", b"access_token%", b"&&&", b"==",
])
async def test_other_queries_pass(app: Any, query: bytes) -> None:
    assert (await request(app, [bearer()], query_string=query)).status == 200


async def test_a_token_only_in_the_query_is_still_no_credentials(app: Any) -> None:
    answer = await request(app, [], query_string=b"access_token=abc")
    assert (answer.status, answer.json()["error"]) == (401, "missing_auth_header")


@pytest.mark.parametrize("content_type", [
    FORM, b"application/x-www-form-urlencoded; charset=utf-8",
    b" Application/X-WWW-Form-UrlEncoded",
])
@pytest.mark.parametrize("chunks", [
    [b"access_token=abc"], [b"a=1&acc", b"ess_tok", b"en=abc"], [b"access%5Ftoken=x", b""],
])
async def test_a_token_in_the_form_body_as_well_is_400(
        app: Any, content_type: bytes, chunks: list[bytes]) -> None:
    answer = await request(app, [bearer(), (b"content-type", content_type)], method="POST",
                           chunks=chunks)
    two_methods(answer)


@pytest.mark.parametrize("chunks", [
    [b"a=1&b=2"], [b"a=1&", b"b=2", b""], [b""], [b"q=access_token"], [b"\xff\x00%%=&"],
])
async def test_a_form_without_a_token_reaches_the_app_byte_for_byte(
        app: Any, chunks: list[bytes]) -> None:
    answer = await request(app, [bearer(), (b"content-type", FORM)], method="POST",
                           chunks=chunks)
    assert answer.status == 200
    assert answer.body.decode() == ",".join(
        hashlib.sha256(chunk).hexdigest()[:8] for chunk in chunks)


async def test_a_json_body_is_not_read(app: Any) -> None:
    chunks = [b'{"access_token": "x",', b' "jsonrpc": "2.0"}']
    answer = await request(app, [bearer(), (b"content-type", b"application/json")],
                           method="POST", chunks=chunks)
    assert answer.status == 200
    assert answer.body.decode() == ",".join(hashlib.sha256(c).hexdigest()[:8] for c in chunks)


async def test_a_form_body_over_the_cap_is_413(app: Any) -> None:
    fits = [b"a=" + b"x" * (MAX_FORM_BODY_BYTES - 2)]
    answer = await request(app, [bearer(), (b"content-type", FORM)], method="POST", chunks=fits)
    assert answer.status == 200
    over = [b"a=" + b"x" * (MAX_FORM_BODY_BYTES // 2), b"x" * (MAX_FORM_BODY_BYTES // 2)]
    answer = await request(app, [bearer(), (b"content-type", FORM)], method="POST", chunks=over)
    assert (answer.status, answer.json()) == (413, {
        "error": "request_too_large",
        "error_description": f"The form body is larger than {MAX_FORM_BODY_BYTES} bytes, the "
                             "most this server reads to check it."})
    assert answer.headers == {"content-type": "application/json", "cache-control": "no-store",
                              "content-length": str(len(answer.body))}


async def test_a_websocket_with_a_token_in_the_query_as_well_is_closed(app: Any) -> None:
    answer = await request(app, [bearer()], kind="websocket", query_string=b"access_token=x")
    assert answer.close_code == 1008


# ---------------------------------------------------------------- request_flags


@pytest.mark.parametrize("headers,flags", [
    ([], 0),
    ([(b"host", b"x"), (b"content-type", b"application/json")], 0),
    ([(b"origin", b"http://x")], ORIGIN_HEADER),
    ([(b"Origin", b"")], ORIGIN_HEADER),
    ([(b"content-type", FORM)], FORM_BODY),
    ([(b"Content-Type", b" \tAPPLICATION/x-www-form-urlencoded;charset=utf-8")], FORM_BODY),
    ([(b"content-type", b"application/x-www-form-urlencode")], 0),
    ([(b"content-type", b"multipart/form-data")], 0),
    ([(b"origin", b"x"), (b"content-type", FORM)], ORIGIN_HEADER | FORM_BODY),
    ([[b"origin", b"x"]], ORIGIN_HEADER),
    ([(b"origins", b"x"), (b"xorigin", b"x"), (b"content-types", FORM)], 0),
    ([(b"origin\r", b"x"), (b"content\rtype", FORM), (b"ORIGIN", b"")], ORIGIN_HEADER),
])
def test_request_flags(headers: Any, flags: int) -> None:
    assert request_flags(headers) == flags
