"""The JSON-RPC body of a POST to an MCP endpoint, as the middleware reads it before the app.

Parsed strictly (no repeated key anywhere, no NaN), and classified
into the operations it asks for: ``(method, name)`` pairs, the name being the ``params`` member
MCP mirrors in the ``Mcp-Name`` header (a tool's or prompt's ``name``, a resource's ``uri``).
Anything that cannot be classified is refused with a JSON-RPC error rather than passed on: the
middleware and the SDK must never disagree about which operation a body asks for.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from typing import Any

import orjson

#: The longest body read while operation rules exist: MCP messages carry tool arguments, so
#: megabytes are legitimate; beyond this, 413 (``max_body_bytes=`` changes it).
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024

#: The params member of each operation that has a name (MCP's NAME_BEARING_METHODS).
NAME_PARAM = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}

#: The keys that decide an operation: none may be repeated in any object of a body.
_DECIDING = ("method", "params", "name", "uri")
REPEATED_KEY = "The request body repeats method, params, name or uri in an object."

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
HEADER_MISMATCH = -32020  # the 2026-07-28 streamable HTTP transport's HeaderMismatch

Operation = tuple[str, str | None]


class Refusal(Exception):
    """A body refused before the app runs: HTTP ``status`` with a JSON-RPC error."""

    def __init__(self, status: int, code: int, message: str, request_id: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id

    def response(self) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        body = orjson.dumps({
            "jsonrpc": "2.0",
            "id": self.request_id,
            "error": {"code": self.code, "message": self.message},
        })
        return self.status, [(b"content-type", b"application/json")], body


def _unclassifiable(message: str, request_id: Any = None) -> Refusal:
    return Refusal(400, INVALID_REQUEST, message, request_id)


class _RepeatedKey(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        keys = [key for key, _ in pairs]
        if any(keys.count(key) > 1 for key in _DECIDING):
            raise _RepeatedKey
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_decoder = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_no_constant)




#: Each deciding key as the bytes of its string token.
_TOKENS = tuple((key, b'"' + key.encode() + b'"') for key in _DECIDING)
_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"  # in every 2026-07-28 request's _meta


def _read_one_way(body: bytes, parsed: Any) -> bool:
    """Whether no object of ``body`` repeats a deciding key, seen cheaply (False: can't tell).

    Without a backslash in the body, every ``"`` delimits a string, so each ``"name"`` in the
    bytes is one string token equal to ``name``, a key or a value. When the bytes hold exactly
    as many as the parsed message shows at the places MCP puts them (the message's ``method``
    and ``params``, the params' ``name`` or ``uri``, the client info's ``name``), no other
    token exists, so none was repeated.
    """
    if type(parsed) is not dict or b"\\" in body:
        return False
    known = {"method": "method" in parsed, "params": "params" in parsed, "name": 0, "uri": 0}
    params = parsed.get("params")
    if type(params) is dict:
        meta = params.get("_meta")
        client = meta.get(_CLIENT_INFO) if type(meta) is dict else None
        known["name"] = ("name" in params) + (type(client) is dict and "name" in client)
        known["uri"] = "uri" in params
    for key, token in _TOKENS:
        if body.count(token) != known[key]:
            return False
    return True


def _parse(body: bytes) -> Any:
    # orjson and pydantic keep the last of repeated keys, another parser may keep the first:
    # a body that repeats a deciding key is refused (others, in arguments, are the app's).
    # orjson reads the body; when it cannot be sure that no such key was repeated, json's own
    # parser reads it again with a hook on every object (four times orjson's cost).
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise Refusal(400, PARSE_ERROR, "The request body is not JSON.") from None
    if _read_one_way(body, parsed):
        return parsed
    try:
        return _decoder.decode(body.decode("utf-8"))
    except _RepeatedKey:
        raise _unclassifiable(REPEATED_KEY) from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Refusal(400, PARSE_ERROR, "The request body is not JSON.") from None


def _request_id(message: Any) -> str | int | None:
    # Echoed in an error only when it is a valid JSON-RPC id (a string or an integer).
    request_id = message.get("id") if type(message) is dict else None
    return request_id if type(request_id) in (str, int) else None


def _operation(message: Any) -> Operation | None:
    if type(message) is not dict:
        raise _unclassifiable("A JSON-RPC message is not an object.")
    if "method" not in message:
        return None  # a response to the server: no operation
    method = message["method"]
    request_id = _request_id(message)
    if type(method) is not str:
        raise _unclassifiable("The JSON-RPC method is not a string.", request_id)
    key = NAME_PARAM.get(method)
    if key is None:
        return method, None
    params = message.get("params")
    name = params.get(key) if type(params) is dict else None
    if type(name) is not str:
        raise _unclassifiable(f"{method} needs a string params.{key}.", request_id)
    return method, name


def operations_of(body: bytes) -> tuple[list[Operation], Any]:
    """The operations a body asks for, and the request id to answer errors with.

    :raises Refusal: 400 for a body that is not JSON, an empty batch, a message that is not an
        object, a method that is not a string, or a named operation without its string name.
    """
    parsed = _parse(body)
    if type(parsed) is list:
        if not parsed:
            raise _unclassifiable("The JSON-RPC batch is empty.")
        messages: list[Any] = parsed
        request_id = None
    else:
        messages = [parsed]
        request_id = _request_id(parsed)
    operations = [op for op in map(_operation, messages) if op is not None]
    return operations, request_id


_BASE64_SENTINEL = re.compile(r"=\?base64\?(.*)\?=")


def _header_value(raw: bytes) -> str | None:
    """An ``Mcp-Name`` value as MCP encodes it: verbatim, or ``=?base64?...?=`` (UTF-8)."""
    try:
        value = raw.decode("ascii")
    except UnicodeDecodeError:
        return None
    if not value.startswith("=?base64?"):
        return value
    match = _BASE64_SENTINEL.fullmatch(value)
    if match is None:
        return value
    try:
        decoded = base64.b64decode(match.group(1), validate=True)
        if base64.b64encode(decoded).decode("ascii") != match.group(1):
            return None
        return decoded.decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def check_headers(headers: Iterable[tuple[bytes, bytes]], operations: list[Operation],
                  request_id: Any) -> None:
    """``Mcp-Method`` and ``Mcp-Name``, when sent, must name the body's operation.

    :raises Refusal: 400 with HeaderMismatch (-32020) for a header repeated, sent with a body
        of more or less than one operation, or different from the body.
    """
    method_headers: list[bytes] = []
    name_headers: list[bytes] = []
    for key, value in headers:
        if len(key) == 10 and key.lower() == b"mcp-method":
            method_headers.append(value)
        elif len(key) == 8 and key.lower() == b"mcp-name":
            name_headers.append(value)
    if not method_headers and not name_headers:
        return
    if len(method_headers) > 1 or len(name_headers) > 1 or len(operations) != 1:
        raise Refusal(400, HEADER_MISMATCH,
                      "The Mcp-Method and Mcp-Name headers must name the body's one operation.",
                      request_id)
    method, name = operations[0]
    if method_headers and method_headers[0].decode("latin-1") != method:
        raise Refusal(400, HEADER_MISMATCH,
                      "The Mcp-Method header does not match the request body's method.",
                      request_id)
    # As the SDK: a named operation's header must carry its name; others' is not looked at.
    if name is not None and (not name_headers or _header_value(name_headers[0]) != name):
        raise Refusal(400, HEADER_MISMATCH,
                      "The Mcp-Name header does not match the request body's "
                      f"{NAME_PARAM.get(method, 'name')}.", request_id)
