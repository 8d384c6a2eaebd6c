"""Per-operation authorization, counted: instructions per MCP ``tools/call`` request, in process.

Issue 15's two bars, measured as valgrind callgrind instruction counts (repeatable on a busy
shared machine, where wall-clock is not):

- **A**: a ``tools/call`` of a tool that has a rule of its own (``delete_file`` needs
  ``files:write``), with a cached token, costs at most 1.10x the same request through a
  middleware with only a route-level rule (``required_scopes=["mcp"]``, no operation rules).
- **B**: a ``tools/call`` of a tool with no rule (``rename_file``, while ``delete_file`` has
  one) costs what the same request costs with no operation rules configured (within 1 %).

Each configuration is measured against two inner apps:

- ``sdk``: the real MCP SDK app, ``MCPServer(...).streamable_http_app(stateless_http=True,
  json_response=True)`` (SDK 2.x), its tools returning a short string: what users run;
- ``minimal``: an ASGI app that reads the whole body and answers 200 with a fixed JSON: the
  middleware's own cost with nothing to hide it.

and in these configurations (``CONFIGS``; the middleware wraps the inner app directly):

- ``noauth``: no middleware at all, for scale;
- ``route``: ``bearer_auth_middleware("jwt", audience=..., required_scopes=["mcp"])``, today's
  route-level rule: the body is never read;
- ``rule``: the same plus ``operation_scopes={"tools": {"delete_file": ["files:write"]}}``;
- ``decorator`` (``sdk`` only): the same rule written as ``@mcp_auth.requires_scopes(
  "files:write")`` under ``@mcp.tool()`` and the middleware made with ``mcp_server=mcp``; the
  tool's own check (the decorator's wrapper) runs inside the app too, so it is in this row.

each with a call of ``delete_file`` (the tool with a rule) and of ``rename_file`` (a tool
without one, the same name length, the same arguments). A = rule / route on ``delete_file``,
B = rule / route on ``rename_file`` (and the same with ``decorator`` on the SDK app).

The request: ``POST /mcp`` with a realistic MCP 2026-07-28 body of about 300 bytes
(``params.name``, ``arguments`` and ``_meta`` with the per-request protocol version, client
capabilities and client info), the 2026-07-28 headers (``Mcp-Protocol-Version``,
``Mcp-Method``, ``Mcp-Name``, which the middleware cross-checks against the body while a rule
exists), ``Accept: application/json, text/event-stream`` and one ES256 token minted by the dev
issuer with ``scope="mcp files:read files:write"`` and the audience, repeated on every request:
after the first request the verifier answers from its cache. The issuer
(``mcpauth_fast.dev.issuer.DevIssuer``, keys in a temporary directory) runs in this process,
not under valgrind; the measured process fetches its metadata and JWKS once, before counting.

How one configuration is counted: one fresh process under ``valgrind --tool=callgrind``
(``PYTHONHASHSEED=0``) builds the app and drives it directly, with no sockets: it makes each
request's ASGI scope, ``receive`` (the body in one message, then nothing until cancelled, as a
server whose client stays connected) and ``send``, and awaits the app, one request at a time on
one asyncio event loop. After a warm-up (``--warmup`` requests, then ``gc.collect()`` and
``gc.freeze()``, so that a full collection of the import-time heap does not fall into one batch
and not another), it runs a batch of ``--requests`` N requests and then a batch of 2N, each
between ``callgrind_control -z`` (counters to zero) and ``callgrind_control -d`` (dump): the
dumps exclude start-up, imports and warm-up. The per-request figure is the difference of the
two dumps divided by N: what is the same in both batches (the stdin/stdout hand-shake that
starts and ends a batch) cancels out. Every response must have the expected status (200).
The per-batch figures (a dump over its size) are in the JSON too. They run 0.1-0.3 % below
the difference, and the 2N batch above the N batch, in every configuration alike (the minimal
app without auth too; no object accumulates in the process): the per-request cost creeps up
slowly with the requests served (the event loop's and the allocator's own state), so compare
configurations measured with the same N and warm-up, as this script does. Defaults: N = 1000
for the minimal app, 200 for the SDK app (1.55M instructions a request), warm-up 300.

Then where the rule's instructions go: one more process (the minimal app's rule middleware,
the token cached) runs each step of ``_authorize_operation`` alone (``read_body``,
``operations_of``, ``check_headers``, ``scopes_for``, ``hierarchy.missing``, ``replay``; the whole
method; plain ``json.loads`` and ``orjson.loads`` of the same body for reference) N and 2N
times between ``-z`` and ``-d``; the loop's own cost per call is its own row.

Exits 1 when a bar is not met.

    .venv/bin/python bench/operations_instructions.py            # ~7 minutes on 2 cores
    .venv/bin/python bench/operations_instructions.py --apps minimal --requests 500
    .venv/bin/python bench/operations_instructions.py --keep     # keep the callgrind dumps

Writes ``bench/results/operations-instructions.json`` and prints the table. Needs valgrind and
the MCP SDK 2.x (``mcp``) in the environment; two processes run at a time (counts do not
depend on what else runs).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import callgrind  # noqa: E402  (bench/ is not a package)

DEFAULT_OUT = BENCH / "results" / "operations-instructions.json"

AUDIENCE = "http://127.0.0.1:8000/mcp"
ROUTE_SCOPES = ["mcp"]
TOKEN_SCOPE = "mcp files:read files:write"
RULED_TOOL = "delete_file"   # has a rule: needs files:write
FREE_TOOL = "rename_file"    # no rule (same name length)
RULE_SCOPES = ["files:write"]
PROTOCOL_VERSION = "2026-07-28"
#: The issue's bars: A (rule / route, at most) and B (|rule / route - 1|, at most).
BAR_A = 1.10
BAR_B = 0.01

#: (app, auth, tool) of every configuration, in the table's order.
CONFIGS: tuple[tuple[str, str, str], ...] = tuple(
    (app, auth, tool)
    for app in ("minimal", "sdk")
    for auth, tool in (("noauth", RULED_TOOL), ("route", RULED_TOOL), ("rule", RULED_TOOL),
                       ("decorator", RULED_TOOL), ("route", FREE_TOOL), ("rule", FREE_TOOL),
                       ("decorator", FREE_TOOL))
    if not (app == "minimal" and auth == "decorator")
)


def config_name(app: str, auth: str, tool: str) -> str:
    return f"{app}/{auth}/{tool}"


# --- the request ---------------------------------------------------------------------------

def request_body(tool: str) -> bytes:
    """A ``tools/call`` as an MCP 2026-07-28 client sends it (about 300 bytes)."""
    return json.dumps({
        "jsonrpc": "2.0", "id": 42, "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": {"path": "/data/reports/q3.csv"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "bench-client",
                                                       "version": "1.4.2"},
            },
        },
    }, separators=(",", ":")).encode()


def request_headers(tool: str, token: str, body: bytes) -> list[tuple[bytes, bytes]]:
    return [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"python-httpx/0.28.1"),
        (b"accept", b"application/json, text/event-stream"),
        (b"accept-encoding", b"gzip, deflate"),
        (b"connection", b"keep-alive"),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer " + token.encode()),
        (b"mcp-protocol-version", PROTOCOL_VERSION.encode()),
        (b"mcp-method", b"tools/call"),
        (b"mcp-name", tool.encode()),
        (b"content-length", str(len(body)).encode()),
    ]


# --- the measured process ------------------------------------------------------------------

MINIMAL_RESPONSE = (b'{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text",'
                    b'"text":"done"}],"isError":false}}')


async def minimal_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Reads the whole body, answers 200 with a fixed JSON."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(MINIMAL_RESPONSE)).encode())]})
    await send({"type": "http.response.body", "body": MINIMAL_RESPONSE})


class Exchange:
    """One request's ``receive`` and ``send``: the body in one message, then a wait that only
    ends by cancellation (the client stays connected); the response's status and body."""

    __slots__ = ("body", "sent", "status", "chunks")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sent = False
        self.status = 0
        self.chunks: list[bytes] = []

    async def receive(self) -> dict[str, Any]:
        if not self.sent:
            self.sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await asyncio.get_running_loop().create_future()  # never set: the client stays
        raise AssertionError("unreachable")

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))


def build(app: str, auth: str, setup: dict[str, Any]) -> tuple[Any, Any]:
    """The ASGI app of a configuration, and the async context it must run in (the SDK's
    session manager) or None."""
    from mcpauth_fast import MCPAuth
    from mcpauth_fast.config import AuthServerType
    from mcpauth_fast.utils import fetch_server_config

    mcp_auth = None
    if auth != "noauth":
        mcp_auth = MCPAuth(server=fetch_server_config(setup["issuer"], AuthServerType.OAUTH))
    context = None
    server = None
    if app == "minimal":
        inner: Any = minimal_app
    else:
        from mcp.server.mcpserver import MCPServer

        server = MCPServer("files")

        def delete_file(path: str) -> str:
            return f"deleted {path}"

        def rename_file(path: str) -> str:
            return f"renamed {path}"

        if auth == "decorator":
            assert mcp_auth is not None
            delete_file = mcp_auth.requires_scopes(*RULE_SCOPES)(delete_file)
        server.tool()(delete_file)
        server.tool()(rename_file)
        inner = server.streamable_http_app(stateless_http=True, json_response=True)
        context = server.session_manager.run()
    if mcp_auth is None:
        return inner, context
    options: dict[str, Any] = {}
    if auth == "rule":
        options["operation_scopes"] = {"tools": {RULED_TOOL: RULE_SCOPES}}
    elif auth == "decorator":
        options["mcp_server"] = server
    bearer = mcp_auth.bearer_auth_middleware("jwt", audience=AUDIENCE,
                                             required_scopes=ROUTE_SCOPES, **options)
    return bearer(inner), context


async def drive(app: str, auth: str, tool: str, setup: dict[str, Any], warmup: int) -> None:
    """Warm up, then run the batches the parent asks for on stdin (``<n>``; ``quit``)."""
    asgi, context = build(app, auth, setup)
    body = request_body(tool)
    headers = request_headers(tool, setup["token"], body)
    template = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/mcp",
        "raw_path": b"/mcp", "root_path": "", "query_string": b"", "headers": headers,
        "client": ("127.0.0.1", 51234), "server": ("127.0.0.1", 8000),
    }

    async def one() -> Exchange:
        scope = dict(template)
        scope["state"] = {}
        exchange = Exchange(body)
        await asgi(scope, exchange.receive, exchange.send)
        return exchange

    async def run() -> None:
        # The configuration does what it says: a token without files:write is refused the
        # tool with a rule (403, before the app) and only that one.
        probe = Exchange(body)
        await asgi({**template, "state": {}, "headers": request_headers(
            tool, setup["weak_token"], body)}, probe.receive, probe.send)
        expected = 403 if auth in ("rule", "decorator") and tool == RULED_TOOL else 200
        if probe.status != expected:
            raise RuntimeError(f"a token without {RULE_SCOPES}: status {probe.status}, "
                               f"expected {expected}: {b''.join(probe.chunks)[:300]!r}")
        first = await one()
        answer = b"".join(first.chunks)
        if first.status != 200 or (app == "sdk" and b'"isError":false' not in answer
                                   and b'"isError"' in answer):
            raise RuntimeError(f"warm-up: status {first.status}: {answer[:300]!r}")
        print(f"first answer: {first.status} {answer[:200]!r}", file=sys.stderr, flush=True)
        await callgrind.serve_batches(one, warmup - 1)

    if context is None:
        await run()
    else:
        async with context:
            await run()


async def drive_parts(setup: dict[str, Any], warmup: int) -> None:
    """The steps of ``_authorize_operation`` one at a time, each in a loop the parent asks for
    on stdin (``<part> <n>``; ``quit``), on the minimal app's rule middleware."""
    import orjson

    from mcpauth_fast import jsonrpc
    from mcpauth_fast.middleware.body import read_body, replay

    asgi, _ = build("minimal", "rule", setup)
    body = request_body(RULED_TOOL)
    headers = request_headers(RULED_TOOL, setup["token"], body)
    scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": headers}
    for _ in range(warmup):  # verifies the token once, then answers from the cache
        exchange = Exchange(body)
        await asgi({**scope, "state": {}}, exchange.receive, exchange.send)
        assert exchange.status == 200
    info = asgi._jwt.cached(setup["token"])
    assert info is not None
    rules = asgi._operations
    ops, request_id = jsonrpc.operations_of(body)
    free_ops, _ = jsonrpc.operations_of(request_body(FREE_TOOL))
    needed = rules.scopes_for(ops)
    assert needed == tuple(RULE_SCOPES), needed
    message = {"type": "http.request", "body": body, "more_body": False}
    limit = asgi.config.max_body_bytes

    async def receive() -> dict[str, Any]:
        return message

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("no refusal expected")

    messages: list[Any] = [message]

    def read() -> Any:
        return read_body(receive, limit)

    async def replay_and_receive() -> Any:
        return await replay(messages, receive)()

    def hooked_decode() -> Any:
        return jsonrpc._decoder.decode(body.decode("utf-8"))

    sync_parts: dict[str, Any] = {
        "empty call (loop overhead, sync)": lambda: None,
        "operations_of (parse + classify)": lambda: jsonrpc.operations_of(body),
        "  the careful reading (json with hooks), when needed": hooked_decode,
        "  for reference: json.loads(body)": lambda: json.loads(body),
        "  for reference: orjson.loads(body)": lambda: orjson.loads(body),
        "check_headers (Mcp-Method, Mcp-Name)": lambda: jsonrpc.check_headers(
            headers, ops, request_id),
        f"scopes_for ({RULED_TOOL})": lambda: rules.scopes_for(ops),
        f"scopes_for ({FREE_TOOL})": lambda: rules.scopes_for(free_ops),
    }
    sync_parts["scope check (hierarchy.missing)"] = lambda: asgi.config.hierarchy.missing(
        info.scopes, needed)
    async_parts: dict[str, Any] = {
        "empty await (loop overhead, async)": receive,
        "read_body": read,
        "replay + the app's receive": replay_and_receive,
        f"_authorize_operation, all of it ({RULED_TOOL})":
            lambda: asgi._authorize_operation(info, {**scope}, receive, send),
    }
    await callgrind.serve_parts(sync_parts, async_parts)


def child(argv: list[str]) -> int:
    if argv[:1] == ["parts"]:
        parser = argparse.ArgumentParser()
        parser.add_argument("--setup", required=True)
        parser.add_argument("--warmup", type=int, required=True)
        args = parser.parse_args(argv[1:])
        asyncio.run(drive_parts(json.loads(Path(args.setup).read_text()), args.warmup))
        return 0
    parser = argparse.ArgumentParser()
    parser.add_argument("app")
    parser.add_argument("auth")
    parser.add_argument("tool")
    parser.add_argument("--setup", required=True)
    parser.add_argument("--warmup", type=int, required=True)
    args = parser.parse_args(argv)
    setup = json.loads(Path(args.setup).read_text())
    asyncio.run(drive(args.app, args.auth, args.tool, setup, args.warmup))
    return 0


# --- the harness ---------------------------------------------------------------------------

def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)






def counted_session(workdir: Path, slug: str, child_args: list[str],
                    batches: Any) -> list[int]:
    """``callgrind.counted_session`` of this script's child (``--child ...``)."""
    return callgrind.counted_session(workdir, slug, Path(__file__).resolve(), child_args,
                                     batches)


def measure(workdir: Path, setup_file: Path, app: str, auth: str, tool: str,
            args: argparse.Namespace) -> dict[str, Any]:
    """One configuration in one process under callgrind: batches of N and 2N."""
    name = config_name(app, auth, tool)
    started = time.time()
    sizes = [args.requests, 2 * args.requests]
    totals = counted_session(
        workdir, name.replace("/", "-"),
        [app, auth, tool, "--setup", str(setup_file), "--warmup", str(args.warmup)],
        lambda ready: sizes)
    per_request = (totals[1] - totals[0]) / args.requests
    result = {
        "app": app, "auth": auth, "tool": tool,
        "instructions_per_request": per_request,
        "batches": [{"requests": s, "instructions": t, "per_request": t / s}
                    for s, t in zip(sizes, totals, strict=True)],
        "seconds": round(time.time() - started, 1),
    }
    log(f"{name:28s} {per_request:12,.0f} instructions per request "
        f"(batches {', '.join(f'{t / s:,.0f}' for s, t in zip(sizes, totals, strict=True))}; "
        f"{result['seconds']} s)")
    return result


def measure_parts(workdir: Path, setup_file: Path, args: argparse.Namespace
                  ) -> dict[str, Any]:
    """Each step of ``_authorize_operation`` alone, N and 2N times, in one process; the loop's
    own cost (an empty call or await) is in its own row, not subtracted."""
    started = time.time()
    n = args.parts_n
    names: list[str] = []

    def batches(ready: str) -> list[str]:
        names.extend(json.loads(ready.split(" ", 1)[1]))
        return [f"{name} {size}" for name in names for size in (n, 2 * n)]

    totals = counted_session(workdir, "parts", ["parts", "--setup", str(setup_file),
                                                "--warmup", str(args.warmup)], batches)
    parts = {name: (totals[2 * i + 1] - totals[2 * i]) / n for i, name in enumerate(names)}
    log(f"parts of _authorize_operation: {time.time() - started:.1f} s")
    return {"n": n, "instructions_per_call": parts}


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("mcpauth-fast", "mcp", "starlette", "pydantic", "anyio", "orjson",
                    "cryptography"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            pass
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src", "ext"],
                           capture_output=True, text=True).stdout.strip()
    found["commit"] = commit + (" (src/ or ext/ modified)" if dirty else "")
    from mcpauth_fast._accel import IMPLEMENTATION
    found["implementation"] = IMPLEMENTATION
    found["valgrind"] = subprocess.run(["valgrind", "--version"], capture_output=True,
                                       text=True).stdout.strip()
    return found


def bars(results: dict[str, dict[str, Any]], apps: list[str]) -> list[dict[str, Any]]:
    def per(app: str, auth: str, tool: str) -> float | None:
        r = results.get(config_name(app, auth, tool))
        return r["instructions_per_request"] if r else None

    found = []
    for app in apps:
        for rule in ("rule", "decorator"):
            for bar, tool in (("A", RULED_TOOL), ("B", FREE_TOOL)):
                new, base = per(app, rule, tool), per(app, "route", tool)
                if new is None or base is None:
                    continue
                ratio = new / base
                met = ratio <= BAR_A if bar == "A" else abs(ratio - 1) <= BAR_B
                found.append({
                    "bar": bar, "app": app, "rule": rule, "tool": tool, "ratio": ratio,
                    "added_instructions": new - base, "met": met,
                    "target": (f"{rule}/{tool} / route/{tool} <= {BAR_A}" if bar == "A" else
                               f"|{rule}/{tool} / route/{tool} - 1| <= {BAR_B:.0%}"),
                })
    return found


def format_table(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [
        "versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()
                                 if k != "valgrind") + f", {report['versions']['valgrind']}",
        f"instructions per request (callgrind, in process, no sockets; (2N batch - N batch) / N,"
        f" N = {cfg['requests']}, warm-up {cfg['warmup']}; tools/call body of "
        f"{cfg['body_bytes']} bytes, ES256 token, cached)",
        f"{'app':8s} {'configuration':10s} {'tool':12s} {'instr/request':>14s} "
        f"{'x route':>8s} {'x noauth':>9s}",
    ]
    results = report["results"]
    for r in results.values():
        app, auth, tool = r["app"], r["auth"], r["tool"]
        route = results.get(config_name(app, "route", tool))
        noauth = results.get(config_name(app, "noauth", RULED_TOOL))
        x_route = (f"{r['instructions_per_request'] / route['instructions_per_request']:8.4f}"
                   if route else f"{'':8s}")
        x_noauth = (f"{r['instructions_per_request'] / noauth['instructions_per_request']:9.4f}"
                    if noauth else "")
        lines.append(f"{app:8s} {auth:10s} {tool:12s} {r['instructions_per_request']:14,.0f} "
                     f"{x_route} {x_noauth}")
    parts = report.get("parts")
    if parts:
        lines += ["", f"where the rule's instructions go (minimal app's rule middleware, "
                      f"{RULED_TOOL}; each step alone, (2N - N) / N, N = {parts['n']}):"]
        for name, value in parts["instructions_per_call"].items():
            lines.append(f"  {name:48s} {value:10,.0f}")
    lines.append("")
    for b in report["bars"]:
        lines.append(f"bar {b['bar']} [{b['app']}, {b['rule']}]: {b['target']}: "
                     f"{b['ratio']:.4f} ({b['added_instructions']:+,.0f} instructions) "
                     f"{'PASS' if b['met'] else 'FAIL'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--apps", nargs="+", choices=["minimal", "sdk"],
                        default=["minimal", "sdk"])
    parser.add_argument("--requests", type=int, default=None,
                        help="N: the batches are N and 2N requests (default: minimal 1000, "
                             "sdk 200)")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2, help="processes under valgrind at once")
    parser.add_argument("--parts-n", type=int, default=2000,
                        help="N of the breakdown of _authorize_operation (0: no breakdown)")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (callgrind dumps, logs) and print it")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install -y valgrind)")
    from mcpauth_fast.dev.issuer import DevIssuer

    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="mcpauth-ops-instr-"))
    chosen = [c for c in CONFIGS if c[0] in args.apps]
    sizes = {app: args.requests or (1000 if app == "minimal" else 200) for app in args.apps}
    report: dict[str, Any] = {
        "benchmark": "operations-instructions",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.executable).name, "bench/operations_instructions.py",
                             *argv]),
        "versions": versions(),
        "config": {
            "requests": sizes if args.requests is None else args.requests,
            "warmup": args.warmup, "body_bytes": len(request_body(RULED_TOOL)),
            "body": request_body(RULED_TOOL).decode(), "token": "ES256, dev issuer, cached",
            "token_scope": TOKEN_SCOPE, "route_scopes": ROUTE_SCOPES,
            "operation_scopes": {"tools": {RULED_TOOL: RULE_SCOPES}},
            "method": "one process per configuration under valgrind --tool=callgrind "
                      "(PYTHONHASHSEED=0); after the warm-up, gc.freeze(), then a batch of N "
                      "and one of 2N requests, each between callgrind_control -z and -d; "
                      "per request = (2N dump - N dump) / N",
        },
    }
    try:
        with DevIssuer(state_dir=workdir / "issuer") as issuer:
            token = issuer.mint(sub="alice", scope=TOKEN_SCOPE, aud=AUDIENCE, ttl=6 * 3600,
                                alg="ES256")
            setup_file = workdir / "setup.json"
            weak = issuer.mint(sub="bob", scope="mcp files:read", aud=AUDIENCE, ttl=6 * 3600,
                               alg="ES256")
            setup_file.write_text(json.dumps({"issuer": issuer.issuer, "token": token,
                                              "weak_token": weak}))
            log(f"{len(chosen)} configurations, {args.jobs} at a time; work dir {workdir}")

            def one(config: tuple[str, str, str]) -> dict[str, Any]:
                app = config[0]
                ns = argparse.Namespace(**{**vars(args), "requests": sizes[app]})
                return measure(workdir, setup_file, *config, ns)

            # The SDK's configurations are the long ones: start them first.
            order = sorted(chosen, key=lambda c: c[0] != "sdk")
            with ThreadPoolExecutor(args.jobs) as pool:
                parts = (pool.submit(measure_parts, workdir, setup_file, args)
                         if args.parts_n > 0 else None)
                done = dict(zip(order, pool.map(one, order), strict=True))
                if parts is not None:
                    report["parts"] = parts.result()
            report["results"] = {config_name(*c): done[c] for c in chosen}
    except BaseException:
        log(f"failed: kept {workdir}")
        raise
    else:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report["bars"] = bars(report["results"], args.apps)
    report["seconds"] = round(time.time() - started, 1)
    table = format_table(report)
    report["table"] = table.splitlines()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table)
    print(f"\nwrote {out} in {report['seconds']:.0f} s")
    return 0 if all(b["met"] for b in report["bars"]) else 1


if __name__ == "__main__":
    sys.exit(main())
