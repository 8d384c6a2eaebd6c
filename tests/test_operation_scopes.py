"""Scopes per MCP operation, decided by the middleware before the app runs (in process).

The app behind the middleware records every body it receives: a refused request must never
reach it, and an accepted one must reach it with exactly the bytes the client sent. The MCP
SDK's own server and client are in tests/test_mcp_operation_scopes.py.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from support.app_factory import RESOURCE, auth_server_mode, resource_mode
from support.jwks_server import JwksServer
from support.tokens import claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.exceptions import MCPAuthConfigException
from mcpauth_fast.jsonrpc import (
    HEADER_MISMATCH,
    INVALID_REQUEST,
    PARSE_ERROR,
    REPEATED_KEY,
    Refusal,
    operations_of,
)
from mcpauth_fast.operations import OperationRules
from mcpauth_fast.scopes import ScopeHierarchy

RULES = {
    "tools": {"delete_file": ["files:write"], "audit": ["audit", "files:read"]},
    "resources": {"file:///etc/passwd": ["root"], "file:///home/{user}/notes": ["notes"],
                  "logs://*": ["logs"]},
    "prompts": {"summarize": ["files:read"]},
}
DESCRIPTION = "The token does not contain the necessary scopes for this request."


def token(scope: str) -> str:
    return signing_key("ES256").mint(claims(time.time(), scope=scope))


def call(name: str, **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": name, "arguments": {}, **params}}


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def endpoint(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.bodies.append(body)
        info = request.scope["auth"]
        return JSONResponse({"scopes": list(info.scopes), "length": len(body)})


def client(mcp_auth: MCPAuth, recorder: Recorder, **options: Any) -> TestClient:
    middleware = mcp_auth.bearer_auth_middleware("jwt", **options)
    app = Starlette(routes=[Route("/mcp", recorder.endpoint, methods=["GET", "POST", "DELETE"])],
                    middleware=[Middleware(middleware)])
    return TestClient(app)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def rules_client(jwks_server: JwksServer, recorder: Recorder) -> TestClient:
    mcp_auth = auth_server_mode(jwks_server)
    return client(mcp_auth, recorder, required_scopes=["mcp"], operation_scopes=RULES)


def post(http: TestClient, scope: str, body: Any, **headers: str) -> Any:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return http.post("/mcp", content=content, headers={
        "authorization": f"Bearer {token(scope)}", "content-type": "application/json",
        **headers})


def insufficient(scopes: str) -> str:
    return (f'Bearer error="insufficient_scope", error_description="{DESCRIPTION}", '
            f'scope="{scopes}"')


@pytest.mark.parametrize("body,needed,missing", [
    (call("delete_file"), "mcp files:write", ["files:write"]),
    (call("audit"), "mcp audit files:read", ["audit", "files:read"]),
    ({"jsonrpc": "2.0", "id": 7, "method": "resources/read",
      "params": {"uri": "file:///etc/passwd"}}, "mcp root", ["root"]),
    ({"jsonrpc": "2.0", "id": 7, "method": "resources/read",
      "params": {"uri": "file:///home/bob/notes"}}, "mcp notes", ["notes"]),
    ({"jsonrpc": "2.0", "id": 7, "method": "resources/read",
      "params": {"uri": "logs://app/today"}}, "mcp logs", ["logs"]),
    ({"jsonrpc": "2.0", "id": 7, "method": "prompts/get",
      "params": {"name": "summarize"}}, "mcp files:read", ["files:read"]),
    # A batch needs what all its elements need.
    ([call("delete_file"), {**call("audit"), "id": 8}],
     "mcp files:write audit files:read", ["files:write", "audit", "files:read"]),
], ids=["tool", "tool-two-scopes", "resource-exact", "resource-template", "resource-prefix",
        "prompt", "batch"])
def test_an_operation_without_its_scopes_is_403_before_the_app(
        rules_client: TestClient, recorder: Recorder, body: Any, needed: str,
        missing: list[str]) -> None:
    with rules_client as http:
        response = post(http, "mcp", body)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == insufficient(needed)
    assert response.json() == {"error": "missing_required_scopes",
                               "error_description": DESCRIPTION, "missing_scopes": missing}
    assert recorder.bodies == []


def test_the_app_gets_the_same_bytes_when_the_scopes_are_there(
        rules_client: TestClient, recorder: Recorder) -> None:
    body = orjson.dumps(call("delete_file", arguments={"path": "/tmp/x", "big": "y" * 70000}))
    with rules_client as http:
        response = post(http, "mcp files:write", body)
    assert response.status_code == 200
    assert response.json() == {"scopes": ["mcp", "files:write"], "length": len(body)}
    assert recorder.bodies == [body]


@pytest.mark.parametrize("body", [
    call("list_files"),                                      # a tool without a rule
    {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 1, "result": {}},               # a response to the server
    {"jsonrpc": "2.0", "id": 7, "method": "resources/read", "params": {"uri": "file:///home/x"}},
    {"jsonrpc": "2.0", "id": 7, "method": "prompts/get", "params": {"name": "other"}},
])
def test_operations_without_a_rule_need_only_the_route_scopes(
        rules_client: TestClient, recorder: Recorder, body: Any) -> None:
    with rules_client as http:
        assert post(http, "mcp", body).status_code == 200
        assert post(http, "other", body).status_code == 403     # the route's rule still holds
    assert recorder.bodies == [orjson.dumps(body)]


def test_get_and_delete_pass_as_today(rules_client: TestClient, recorder: Recorder) -> None:
    headers = {"authorization": f"Bearer {token('mcp')}"}
    with rules_client as http:
        assert http.get("/mcp", headers=headers).status_code == 200
        assert http.delete("/mcp", headers=headers).status_code == 200
    assert recorder.bodies == [b"", b""]


def jsonrpc_error(code: int, message: str, request_id: Any = None) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


@pytest.mark.parametrize("body,code,message,request_id", [
    (b"not json", PARSE_ERROR, "The request body is not JSON.", None),
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":NaN}}', PARSE_ERROR,
     "The request body is not JSON.", None),
    (b"\xff\xfe{}", PARSE_ERROR, "The request body is not JSON.", None),
    (b"[" * 100000 + b"]" * 100000, PARSE_ERROR, "The request body is not JSON.", None),
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_files",'
     b'"name":"delete_file"}}', INVALID_REQUEST, REPEATED_KEY,
     None),
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call",'
     b'"params":{"name":"delete_file"}}', INVALID_REQUEST,
     REPEATED_KEY, None),
    # The same key spelled with an escape is the same key.
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_files",'
     b'"n\\u0061me":"delete_file"}}', INVALID_REQUEST,
     REPEATED_KEY, None),
    (b'{"jsonrpc":"2.0","id":1,"method":5}', INVALID_REQUEST,
     "The JSON-RPC method is not a string.", 1),
    (b'{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":["delete_file"]}}',
     INVALID_REQUEST, "tools/call needs a string params.name.", "a"),
    (b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["delete_file"]}',
     INVALID_REQUEST, "tools/call needs a string params.name.", 1),
    (b'{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":{"x":1}}}',
     INVALID_REQUEST, "resources/read needs a string params.uri.", 1),
    (b"[]", INVALID_REQUEST, "The JSON-RPC batch is empty.", None),
    (b"[1]", INVALID_REQUEST, "A JSON-RPC message is not an object.", None),
    (b'"tools/call"', INVALID_REQUEST, "A JSON-RPC message is not an object.", None),
])
def test_a_body_that_cannot_be_classified_is_400_with_a_jsonrpc_error(
        rules_client: TestClient, recorder: Recorder, body: bytes, code: int, message: str,
        request_id: Any) -> None:
    with rules_client as http:
        response = post(http, "mcp files:write audit files:read root notes logs", body)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json() == jsonrpc_error(code, message, request_id)
    assert recorder.bodies == []


def test_a_body_over_the_cap_is_413(jwks_server: JwksServer, recorder: Recorder) -> None:
    mcp_auth = auth_server_mode(jwks_server)
    http = client(mcp_auth, recorder, operation_scopes=RULES, max_body_bytes=1000)
    at_cap = orjson.dumps(call("list_files", arguments={"p": ""}))
    at_cap = at_cap.replace(b'"p":""', b'"p":"' + b"x" * (1000 - len(at_cap)) + b'"')
    assert len(at_cap) == 1000
    with http:
        assert post(http, "mcp", at_cap).status_code == 200
        response = post(http, "mcp", at_cap + b" ")
    assert response.status_code == 413
    assert response.json() == jsonrpc_error(INVALID_REQUEST,
                                             "The request body is over 1000 bytes.")
    assert recorder.bodies == [at_cap]


def b64(value: str) -> str:
    return "=?base64?" + base64.b64encode(value.encode()).decode() + "?="


@pytest.mark.parametrize("headers,accepted", [
    ({"mcp-method": "tools/call", "mcp-name": "list_files"}, True),
    ({"mcp-method": "tools/call", "mcp-name": b64("list_files")}, True),
    ({"mcp-method": "tools/list", "mcp-name": "list_files"}, False),
    ({"mcp-method": "tools/call", "mcp-name": "delete_file"}, False),
    ({"mcp-method": "tools/call", "mcp-name": b64("delete_file")}, False),
    ({"mcp-method": "tools/call", "mcp-name": "=?base64?not base64?="}, False),
    ({"mcp-method": "tools/call"}, False),                   # a named operation's name is due
    ({"mcp-name": "delete_file"}, False),
])
def test_mcp_method_and_name_headers_must_match_the_body(
        rules_client: TestClient, recorder: Recorder, headers: dict[str, str],
        accepted: bool) -> None:
    with rules_client as http:
        response = post(http, "mcp", call("list_files"), **headers)
    if accepted:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.json()["error"]["code"] == HEADER_MISMATCH == -32020
    assert response.json()["id"] == 7
    assert recorder.bodies == []


def test_a_repeated_mcp_method_header_is_a_mismatch(
        rules_client: TestClient, recorder: Recorder) -> None:
    with rules_client as http:
        response = http.post("/mcp", content=orjson.dumps(call("list_files")), headers=[
            ("authorization", f"Bearer {token('mcp')}"), ("content-type", "application/json"),
            ("mcp-method", "tools/call"), ("mcp-method", "tools/call"),
            ("mcp-name", "list_files")])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == HEADER_MISMATCH
    assert recorder.bodies == []


def test_a_hierarchy_applies_to_route_and_operation_rules(
        jwks_server: JwksServer, recorder: Recorder) -> None:
    mcp_auth = MCPAuth(server=auth_server_mode(jwks_server).server,
                       scope_hierarchy={"files:write": ["files:read"], "admin": ["files:write"]})
    http = client(mcp_auth, recorder, required_scopes=["files:read"], operation_scopes=RULES)
    with http:
        assert post(http, "admin", call("delete_file")).status_code == 200
        assert post(http, "files:write", call("delete_file")).status_code == 200
        refused = post(http, "files:read", call("delete_file"))
    assert refused.status_code == 403
    assert refused.json()["missing_scopes"] == ["files:write"]
    assert refused.headers["www-authenticate"] == insufficient("files:read files:write")


def test_the_challenge_names_the_resource_metadata_and_never_offline_access(
        jwks_server: JwksServer, recorder: Recorder) -> None:
    mcp_auth = resource_mode(jwks_server)
    http = client(mcp_auth, recorder, resource=RESOURCE,
                  required_scopes=["mcp", "offline_access"],
                  operation_scopes={"tools": {"delete_file": ["files:write", "offline_access"]}})
    with http:
        response = post(http, "mcp offline_access", call("delete_file"))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        insufficient("mcp files:write") + ', resource_metadata='
        '"https://mcp.example.com/.well-known/oauth-protected-resource/mcp"')
    assert response.json()["missing_scopes"] == ["files:write"]


def test_without_rules_the_body_is_never_read_by_the_middleware(
        jwks_server: JwksServer, recorder: Recorder) -> None:
    http = client(auth_server_mode(jwks_server), recorder)
    with http:
        response = post(http, "mcp", b"not json, and nobody looks")
    assert response.status_code == 200
    assert recorder.bodies == [b"not json, and nobody looks"]


@pytest.mark.parametrize("config,match", [
    ({"tools": {"x": ["two words"]}}, "not a valid scope"),
    ({"tools": {"x": "files:write"}}, "not a string"),
    ({"tool": {"x": ["a"]}}, "unknown kind"),
    ({"tools": {"": ["a"]}}, "not a name"),
])
def test_invalid_rules_fail_at_construction(
        jwks_server: JwksServer, config: Any, match: str) -> None:
    with pytest.raises(MCPAuthConfigException, match=match):
        auth_server_mode(jwks_server).bearer_auth_middleware("jwt", operation_scopes=config)


def test_an_mcp_server_that_is_not_one_fails_at_construction(jwks_server: JwksServer) -> None:
    with pytest.raises(MCPAuthConfigException, match="MCPServer or FastMCP"):
        auth_server_mode(jwks_server).bearer_auth_middleware("jwt", mcp_server=object())


def test_resource_rules_see_the_uri_as_mcp_sdk_1_reads_it() -> None:
    rules = OperationRules(resources={"file:///etc/passwd": ["root"],
                                      "https://data.example.com/{id}": ["data"]})
    for uri in ["file:///etc/passwd", "FILE:///etc/passwd", "file:///etc/x/../passwd"]:
        assert rules.scopes_for([("resources/read", uri)]) == ("root",), uri
    assert rules.scopes_for([("resources/read", "HTTPS://DATA.example.com/7")]) == ("data",)
    # A template variable matches anything, "/" included: wider than any SDK's matcher.
    assert rules.scopes_for([("resources/read", "https://data.example.com/a/b")]) == ("data",)
    assert rules.scopes_for([("resources/read", "file:///etc/passwd2")]) == ()


def test_separator_hierarchy_grants_an_operation(
        jwks_server: JwksServer, recorder: Recorder) -> None:
    mcp_auth = MCPAuth(server=auth_server_mode(jwks_server).server,
                       scope_hierarchy=ScopeHierarchy(separator=":"))
    http = client(mcp_auth, recorder, operation_scopes=RULES)
    with http:
        assert post(http, "files", call("delete_file")).status_code == 200
        assert post(http, "file", call("delete_file")).status_code == 403


def jsonrpc_call(params: bytes) -> bytes:
    return b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":' + params + b"}"


META = b'"_meta":{"clientInfo":{"name":"client","version":"1"}}'


@pytest.mark.parametrize("params,name", [
    (b'{"name":"delete_file",' + META + b"}", "delete_file"),   # "name" twice, no repeat
    (b'{"name":"name","arguments":{"x":"uri"}}', "name"),         # values equal to a key
    (b'{"name":"delete_file","arguments":{"p":"a","p":"b"}}', "delete_file"),  # not deciding
    (b'{"name":"delete_file","arguments":{"p":"a\\\\b","p":"c"}}', "delete_file"),
    (b'{"name":"del\\u0065te_file"}', "delete_file"),
])
def test_bodies_read_one_way_only_are_classified(params: bytes, name: str) -> None:
    assert operations_of(jsonrpc_call(params)) == ([("tools/call", name)], 1)


@pytest.mark.parametrize("params", [
    b'{"name":"list_files","name":"delete_file"}',
    b'{"name":"list_files",' + META + b',"name":"delete_file"}',   # hidden by another "name"
    b'{"name":"list_files","n\\u0061me":"delete_file"}',           # the same key, escaped
    b'{"name":"list_files","arguments":{"s":"\\\\"},"name":"delete_file"}',
    b'{"name":"x","arguments":{"uri":"a","uri":"b"}}',            # deciding keys anywhere
])
def test_a_repeated_deciding_key_is_refused_on_either_reading(params: bytes) -> None:
    with pytest.raises(Refusal) as refused:
        operations_of(jsonrpc_call(params))
    assert (refused.value.status, refused.value.code) == (400, INVALID_REQUEST)
    assert refused.value.message == REPEATED_KEY
