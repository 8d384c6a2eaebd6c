"""The MCP SDK's own auth with ``MCPAuth.token_verifier``, counted: instructions per request.

Issue 17's bar, as valgrind callgrind instruction counts (repeatable on a busy machine): on one
MCP SDK 2.x server app, a repeated token's ``tools/call`` through the SDK's auth with our
``token_verifier`` costs at most 1.10x the same request through our ``bearer_auth_middleware``.
Configurations (``CONFIGS``), all on ``MCPServer("files").streamable_http_app(
stateless_http=True, json_response=True)``, whose tool reads the SDK's ``get_access_token()``:

- ``noauth``: no auth at all, for scale;
- ``middleware`` (a): ``bearer_auth_middleware("jwt", audience=..., required_scopes=["mcp"])``
  around the SDK app (no ``auth=`` on the server);
- ``sdk-ours`` (b): the SDK's own auth, ``MCPServer(token_verifier=mcp_auth.token_verifier(
  "jwt", audience=...), auth=AuthSettings(required_scopes=["mcp"], ...))``: its
  ``AuthenticationMiddleware(BearerAuthBackend)``, ``AuthContextMiddleware`` and
  ``RequireAuthMiddleware`` around the same endpoint;
- ``sdk-pyjwt`` (c): the same SDK auth with a ``TokenVerifier`` written as the SDK's
  documentation shows one (``tests/support/pyjwt_verifier.py``): PyJWT decodes and verifies
  the token on every request, with the key set its ``PyJWKClient`` keeps.

``AuthSettings(validate_token_resource=False)`` in (b) and (c): both verifiers check the
audience themselves (the SDK's documented choice then). Bar: b / a <= 1.10; c / a reported.

The request, the measuring (a fresh process per configuration under ``valgrind
--tool=callgrind``, ``PYTHONHASHSEED=0``; after the warm-up and ``gc.freeze()``, a batch of N
and one of 2N requests between ``callgrind_control -z`` and ``-d``; per request = (2N dump - N
dump) / N) and the dev issuer are those of ``bench/operations_instructions.py``: a ~300-byte
MCP 2026-07-28 ``tools/call`` with one ES256 token (``scope="mcp"``), repeated on every request.
Before counting, each configuration must answer 401 to a bad token and 403 to a token without
``mcp``, and 200 with the tool's answer to the good one.

Then where the verifiers' instructions go: one more process calls ``verify_token`` alone, N and
2N times (ours on a cache hit; PyJWT's), with the loop's own cost (an ``await`` of an empty
coroutine) in its own row.

    .venv/bin/python bench/sdk_verifier_instructions.py          # ~5 minutes on 2 cores
    .venv/bin/python bench/sdk_verifier_instructions.py --requests 100 --warmup 100

Writes ``bench/results/sdk-verifier-instructions.json`` and prints the table; exits 1 when the
bar is not met. Needs valgrind, the MCP SDK 2.x and PyJWT (``make install``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT / "tests"))  # support.pyjwt_verifier: the SDK docs' verifier

import callgrind  # noqa: E402  (bench/ is not a package)
from operations_instructions import (  # noqa: E402
    Exchange,
    log,
    request_body,
    request_headers,
    versions,
)

DEFAULT_OUT = BENCH / "results" / "sdk-verifier-instructions.json"

AUDIENCE = "http://127.0.0.1:8000/mcp"
ROUTE_SCOPES = ["mcp"]
TOKEN_SCOPE = "mcp"
TOOL = "rename_file"
BAR = 1.10
CONFIGS = ("noauth", "middleware", "sdk-ours", "sdk-pyjwt")


# --- the measured process ------------------------------------------------------------------

def build(config: str, setup: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(the ASGI app, the session manager's context, the token verifier or None)."""
    from mcp.server.auth.middleware.auth_context import get_access_token
    from mcp.server.auth.settings import AuthSettings
    from mcp.server.mcpserver import MCPServer

    from mcpauth_fast import MCPAuth
    from mcpauth_fast.config import AuthServerType
    from mcpauth_fast.utils import fetch_server_config

    options: dict[str, Any] = {}
    verifier: Any = None
    mcp_auth = None
    if config != "noauth":
        mcp_auth = MCPAuth(server=fetch_server_config(setup["issuer"], AuthServerType.OAUTH))
    if config in ("sdk-ours", "sdk-pyjwt"):
        if config == "sdk-ours":
            assert mcp_auth is not None
            verifier = mcp_auth.token_verifier("jwt", audience=AUDIENCE)
        else:
            from support.pyjwt_verifier import PyJwtTokenVerifier

            verifier = PyJwtTokenVerifier(setup["jwks_uri"], setup["issuer"], AUDIENCE)
        options = {"token_verifier": verifier, "auth": AuthSettings(
            issuer_url=setup["issuer"], resource_server_url=AUDIENCE,
            required_scopes=ROUTE_SCOPES, validate_token_resource=False)}
    server = MCPServer("files", **options)

    def rename_file(path: str) -> str:
        access = get_access_token()
        return f"renamed {path} for {access.subject if access is not None else None}"

    server.tool()(rename_file)
    app: Any = server.streamable_http_app(stateless_http=True, json_response=True)
    context = server.session_manager.run()
    if config == "middleware":
        assert mcp_auth is not None
        app = mcp_auth.bearer_auth_middleware(
            "jwt", audience=AUDIENCE, required_scopes=ROUTE_SCOPES)(app)
    return app, context, verifier


async def drive(config: str, setup: dict[str, Any], warmup: int) -> None:
    """Warm up, then run the batches the parent asks for on stdin (``<n>``; ``quit``)."""
    asgi, context, _ = build(config, setup)
    body = request_body(TOOL)
    template = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1", "method": "POST", "scheme": "http", "path": "/mcp",
        "raw_path": b"/mcp", "root_path": "", "query_string": b"",
        "headers": request_headers(TOOL, setup["token"], body),
        "client": ("127.0.0.1", 51234), "server": ("127.0.0.1", 8000),
    }

    async def one(token: str | None = None) -> Exchange:
        scope = dict(template)
        scope["state"] = {}
        if token is not None:
            scope["headers"] = request_headers(TOOL, token, body)
        exchange = Exchange(body)
        await asgi(scope, exchange.receive, exchange.send)
        return exchange

    async def run() -> None:
        if config != "noauth":  # the auth is there: a bad token 401, a weak one 403
            for token, expected in ((setup["token"][:-4] + "AAAA", 401),
                                    (setup["weak_token"], 403)):
                probe = await one(token)
                if probe.status != expected:
                    raise RuntimeError(f"{config}: status {probe.status}, expected {expected}: "
                                       f"{b''.join(probe.chunks)[:300]!r}")
        first = await one()
        answer = b"".join(first.chunks)
        who = b"None" if config == "noauth" else b"alice"
        if first.status != 200 or b"renamed /data/reports/q3.csv for " + who not in answer:
            raise RuntimeError(f"warm-up: status {first.status}: {answer[:300]!r}")
        print(f"first answer: {first.status} {answer[:200]!r}", file=sys.stderr, flush=True)
        await callgrind.serve_batches(one, warmup - 1)

    async with context:
        await run()


async def drive_parts(setup: dict[str, Any], warmup: int) -> None:
    """``verify_token`` alone, ours (a cache hit) and PyJWT's, in loops the parent asks for on
    stdin (``<part> <n>``; ``quit``)."""
    _, _, ours = build("sdk-ours", setup)
    _, _, pyjwt = build("sdk-pyjwt", setup)
    token = setup["token"]

    async def empty() -> None:
        return None

    from mcp.server.auth.middleware.bearer_auth import BearerAuthBackend
    from starlette.requests import HTTPConnection

    body = request_body(TOOL)
    scope = {"type": "http", "method": "POST", "path": "/mcp", "query_string": b"",
             "headers": request_headers(TOOL, token, body)}
    backends = {name: BearerAuthBackend(v) for name, v in (("ours", ours), ("PyJWT", pyjwt))}
    parts: dict[str, Any] = {
        "loop: await of an empty coroutine": empty,
        "ours: verify_token (cache hit)": lambda: ours.verify_token(token),
        "PyJWT: verify_token": lambda: pyjwt.verify_token(token),
        # The SDK's backend around each: the header search, the expiry check, the user.
        "SDK BearerAuthBackend.authenticate, ours": lambda: backends["ours"].authenticate(
            HTTPConnection(scope)),
        "SDK BearerAuthBackend.authenticate, PyJWT": lambda: backends["PyJWT"].authenticate(
            HTTPConnection(scope)),
    }
    for fn in parts.values():
        for _ in range(warmup):
            await fn()
    assert (await ours.verify_token(token)) is (await ours.verify_token(token))
    await callgrind.serve_parts({}, parts)


def child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--setup", required=True)
    parser.add_argument("--warmup", type=int, required=True)
    args = parser.parse_args(argv)
    setup = json.loads(Path(args.setup).read_text())
    if args.config == "parts":
        asyncio.run(drive_parts(setup, args.warmup))
    else:
        asyncio.run(drive(args.config, setup, args.warmup))
    return 0


# --- the harness ---------------------------------------------------------------------------

def measure(workdir: Path, setup_file: Path, config: str, args: argparse.Namespace
            ) -> dict[str, Any]:
    started = time.time()
    sizes = [args.requests, 2 * args.requests]
    totals = callgrind.counted_session(
        workdir, config, Path(__file__).resolve(),
        [config, "--setup", str(setup_file), "--warmup", str(args.warmup)], lambda _: sizes)
    per_request = (totals[1] - totals[0]) / args.requests
    log(f"{config:12s} {per_request:12,.0f} instructions per request "
        f"({time.time() - started:.1f} s)")
    return {
        "config": config, "instructions_per_request": per_request,
        "batches": [{"requests": s, "instructions": t, "per_request": t / s}
                    for s, t in zip(sizes, totals, strict=True)],
        "seconds": round(time.time() - started, 1),
    }


def measure_parts(workdir: Path, setup_file: Path, args: argparse.Namespace
                  ) -> dict[str, float]:
    n = args.parts_n
    names: list[str] = []

    def batches(ready: str) -> list[str]:
        names.extend(json.loads(ready.split(" ", 1)[1]))
        return [f"{name} {size}" for name in names for size in (n, 2 * n)]

    totals = callgrind.counted_session(
        workdir, "parts", Path(__file__).resolve(),
        ["parts", "--setup", str(setup_file), "--warmup", str(args.warmup)], batches)
    return {name: (totals[2 * i + 1] - totals[2 * i]) / n for i, name in enumerate(names)}


def format_table(report: dict[str, Any]) -> str:
    results = report["results"]
    base = results["middleware"]["instructions_per_request"]
    noauth = results["noauth"]["instructions_per_request"]
    lines = [
        "versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()
                                 if k != "valgrind") + f", {report['versions']['valgrind']}",
        f"instructions per request (callgrind, in process; (2N - N) / N, N = "
        f"{report['config']['requests']}, warm-up {report['config']['warmup']}; MCP SDK app, "
        f"tools/call, ES256 token repeated)",
        f"{'configuration':14s} {'instr/request':>14s} {'x middleware':>13s} "
        f"{'- noauth':>10s}",
    ]
    for config in CONFIGS:
        value = results[config]["instructions_per_request"]
        lines.append(f"{config:14s} {value:14,.0f} {value / base:13.4f} {value - noauth:+10,.0f}")
    parts = report.get("parts")
    if parts:
        lines += ["", f"verify_token alone ((2N - N) / N, N = {report['config']['parts_n']}):"]
        lines += [f"  {name:44s} {value:10,.0f}" for name, value in parts.items()]
    lines.append("")
    for b in report["bars"]:
        lines.append(f"{b['name']}: {b['ratio']:.4f}" + (
            f" (bar <= {BAR}) {'PASS' if b['met'] else 'FAIL'}" if b["bar"] else " (reported)"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="N: batches of N and 2N")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2, help="processes under valgrind at once")
    parser.add_argument("--parts-n", type=int, default=1000,
                        help="N of verify_token alone (0: not measured)")
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS),
                        help="a subset (the ratios need noauth, middleware and both sdk-*)")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (callgrind dumps: callgrind_annotate "
                             "--inclusive=yes on a .2 dump shows where a batch went)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install -y valgrind)")
    from mcpauth_fast.dev.issuer import DevIssuer

    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="mcpauth-sdk-instr-"))
    report: dict[str, Any] = {
        "benchmark": "sdk-verifier-instructions",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.executable).name, "bench/sdk_verifier_instructions.py",
                             *argv]),
        "versions": versions(),
        "config": {"requests": args.requests, "warmup": args.warmup, "parts_n": args.parts_n,
                   "body_bytes": len(request_body(TOOL)), "token_scope": TOKEN_SCOPE,
                   "route_scopes": ROUTE_SCOPES, "audience": AUDIENCE},
    }
    try:
        with DevIssuer(state_dir=workdir / "issuer") as issuer:
            setup_file = workdir / "setup.json"
            setup_file.write_text(json.dumps({
                "issuer": issuer.issuer, "jwks_uri": issuer.jwks_uri,
                "token": issuer.mint(sub="alice", scope=TOKEN_SCOPE, aud=AUDIENCE,
                                     ttl=6 * 3600, alg="ES256"),
                "weak_token": issuer.mint(sub="bob", scope="other", aud=AUDIENCE,
                                          ttl=6 * 3600, alg="ES256"),
            }))
            log(f"{len(args.configs)} configurations, {args.jobs} at a time; work dir {workdir}")
            with ThreadPoolExecutor(args.jobs) as pool:
                parts = (pool.submit(measure_parts, workdir, setup_file, args)
                         if args.parts_n > 0 else None)
                done = list(pool.map(lambda c: measure(workdir, setup_file, c, args),
                                     args.configs))
                if parts is not None:
                    report["parts"] = parts.result()
            report["results"] = {r["config"]: r for r in done}
    except BaseException:
        log(f"failed: kept {workdir}")
        raise
    if args.keep:
        log(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    per = {c: r["instructions_per_request"] for c, r in report["results"].items()}
    if set(per) != set(CONFIGS):
        print(json.dumps({"results": per, "parts": report.get("parts")}, indent=2))
        return 0
    report["bars"] = [
        {"name": "b/a sdk-ours / middleware", "ratio": per["sdk-ours"] / per["middleware"],
         "bar": BAR, "met": per["sdk-ours"] / per["middleware"] <= BAR},
        {"name": "c/a sdk-pyjwt / middleware", "ratio": per["sdk-pyjwt"] / per["middleware"],
         "bar": None, "met": True},
        {"name": "b/c sdk-ours / sdk-pyjwt", "ratio": per["sdk-ours"] / per["sdk-pyjwt"],
         "bar": None, "met": True},
    ]
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
