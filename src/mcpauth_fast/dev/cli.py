"""The ``mcpauth-fast`` command (also ``python -m mcpauth_fast``).

- ``token``: print one access token minted with the development keys (or, with
  ``--opaque``, an opaque one the dev issuer introspects), so that
  ``TOKEN=$(mcpauth-fast token --aud ...)`` works;
- ``issuer``: run the development issuer in the foreground until Ctrl-C;
- ``demo``: the dev issuer plus an MCP server with a ``whoami`` tool behind bearer auth;
- ``call``: call a tool of an MCP server with a bearer token and print its result;
- ``token --dpop`` and ``call --dpop``: the same with a DPoP-bound token (RFC 9449);
- ``bench``: how fast this machine verifies tokens, as ratios to the floors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from .issuer import DevIssuer
from .keystore import DEFAULT_ISSUER, DEFAULT_PORT, DEV_ALGORITHMS, mint_token, recorded_issuer
from .opaque import CLIENT_FILE, OpaqueTokens

if TYPE_CHECKING:
    from .dpop_client import DPoPKey

    _Commands = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = ["main"]

_Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status.

    :param argv: the arguments without the program name; default ``sys.argv[1:]``.
    """
    args = build_parser().parse_args(argv)
    handler: _Handler = args.handler
    try:
        return handler(args)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"mcpauth-fast: error: {exc}", file=sys.stderr)
        return 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="mcpauth-fast", description="Bearer-token auth for MCP servers: development tools."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_token_command(commands)
    _add_issuer_command(commands)
    _add_demo_command(commands)
    _add_call_command(commands)
    _add_bench_command(commands)
    # More subcommands register here: one _add_<name>_command(commands) each,
    # setting `handler` to a function (argparse.Namespace) -> exit status.
    return parser


def _add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir", metavar="DIR",
        help="where the development keys live (default: $MCPAUTH_FAST_DEV_DIR or "
             "~/.cache/mcpauth-fast/dev-issuer)",
    )


# --- token -------------------------------------------------------------------------------


def _add_token_command(commands: _Commands) -> None:
    parser = commands.add_parser(
        "token", help="print an access token signed with the development keys",
        description="Print one access token (and nothing else) on stdout.",
    )
    parser.add_argument("--sub", default="alice", help="subject (default: alice)")
    parser.add_argument("--scope", default="read write",
                        help='space-separated scopes (default: "read write")')
    parser.add_argument("--aud", action="append", metavar="URL",
                        help="audience, e.g. the MCP server's URL; repeat for several")
    parser.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default: 3600)")
    parser.add_argument("--alg", choices=DEV_ALGORITHMS, default="RS256",
                        help="signing algorithm (default: RS256)")
    parser.add_argument(
        "--issuer", metavar="URL",
        help=f"the iss claim (default: the running dev issuer's URL, else {DEFAULT_ISSUER})",
    )
    parser.add_argument("--claim", action="append", default=[], type=_claim, metavar="NAME=VALUE",
                        help="an extra claim; VALUE is parsed as JSON when it is JSON "
                             "(numbers, true, lists), else taken as a string; repeatable")
    parser.add_argument("--opaque", action="store_true",
                        help="an opaque token (random; its claims kept in the state dir, "
                             "answered for by the dev issuer's /introspect until it expires "
                             "or is revoked) instead of a JWT")
    _add_dpop_options(parser, "bind the token to the development DPoP key (the cnf.jkt "
                              "claim; the key is created in the state dir on first use)")
    _add_state_dir(parser)
    parser.set_defaults(handler=_run_token)


def _add_dpop_options(parser: argparse.ArgumentParser, dpop_help: str) -> None:
    parser.add_argument("--dpop", action="store_true", help=dpop_help)
    parser.add_argument("--dpop-key", metavar="PATH",
                        help="the DPoP key: a PEM private key file (EC P-256 or Ed25519) "
                             "instead of the development one; implies --dpop")


def _dpop_key(args: argparse.Namespace) -> DPoPKey | None:
    """The DPoP key the options name, or None without --dpop or --dpop-key."""
    # Imported here: it loads httpx, which minting a bearer token does not need.
    from .dpop_client import DPoPKey

    if args.dpop_key is not None:
        return DPoPKey.load(args.dpop_key)
    if args.dpop:
        return DPoPKey.load_or_create(args.state_dir)
    return None


# Claims with an option of their own, and names mint_token takes as parameters.
_RESERVED_CLAIMS = {"iss": "--issuer", "sub": "--sub", "scope": "--scope", "aud": "--aud",
                    "alg": None, "ttl": None, "issuer": None, "state_dir": None}


def _name_value(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def _claim(text: str) -> tuple[str, Any]:
    name, value = _name_value(text)
    if name in _RESERVED_CLAIMS:
        option = _RESERVED_CLAIMS[name]
        raise argparse.ArgumentTypeError(
            f"use {option} to set {name}" if option else f"{name} cannot be set with --claim"
        )
    return name, value


def _run_token(args: argparse.Namespace) -> int:
    audience: list[str] | None = args.aud
    aud = audience[0] if audience and len(audience) == 1 else audience
    claims = dict(args.claim)
    key = _dpop_key(args)
    if key is not None:
        if "cnf" in claims:
            raise ValueError("--claim cnf=... and --dpop both set the cnf claim")
        claims["cnf"] = {"jkt": key.thumbprint}  # RFC 9449 section 6
    if args.opaque:
        issuer = args.issuer or recorded_issuer(args.state_dir) or DEFAULT_ISSUER
        print(OpaqueTokens(args.state_dir).mint(
            issuer, sub=args.sub, scope=args.scope, aud=aud, ttl=args.ttl, **claims))
        return 0
    token = mint_token(
        args.state_dir, args.issuer, sub=args.sub, scope=args.scope, aud=aud,
        ttl=args.ttl, alg=args.alg, **claims,
    )
    print(token)
    return 0


# --- issuer ------------------------------------------------------------------------------


def _add_issuer_command(commands: _Commands) -> None:
    parser = commands.add_parser(
        "issuer", help="run the development issuer until Ctrl-C",
        description="Serve discovery metadata and a JWKS on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port on 127.0.0.1 (default: {DEFAULT_PORT}; 0 picks a free one)")
    _add_state_dir(parser)
    parser.set_defaults(handler=_run_issuer)


def _run_issuer(args: argparse.Namespace) -> int:
    issuer = DevIssuer(port=args.port, state_dir=args.state_dir)
    try:
        issuer.start()
        print(f"issuer:   {issuer.issuer}")
        print(f"jwks_uri: {issuer.jwks_uri}")
        client_id, _ = issuer.client_credentials
        print(f"introspection_endpoint: {issuer.introspection_endpoint}  (client {client_id}, "
              f"secret in {issuer.state_dir / CLIENT_FILE})")
        print(f"revocation_endpoint: {issuer.revocation_endpoint}")
        print("mint a token: mcpauth-fast token --aud <your MCP server URL> [--opaque]; "
              "Ctrl-C to stop", flush=True)
        while True:
            # Woken twice a second: Ctrl-C's handler runs in the main thread, but the kernel may
            # deliver the signal to the server's thread, which does not wake a blocked wait.
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        issuer.stop()
    return 0


# --- demo --------------------------------------------------------------------------------


def _add_demo_command(commands: _Commands) -> None:
    parser = commands.add_parser(
        "demo", help="run an MCP server behind bearer auth with the development issuer",
        description="Start the dev issuer and an MCP server (tool: whoami) on 127.0.0.1, "
                    "print a ready token and a command that calls whoami with it.",
    )
    parser.add_argument("--port", type=int, default=8000,
                        help="port of the MCP server on 127.0.0.1 (default: 8000)")
    parser.add_argument("--issuer-port", type=int, default=DEFAULT_PORT,
                        help=f"port of the dev issuer on 127.0.0.1 (default: {DEFAULT_PORT})")
    parser.add_argument("--opaque", action="store_true",
                        help="hand out an opaque token, checked by introspection at the dev "
                             "issuer (the server runs in 'auto' mode: JWTs work too)")
    _add_state_dir(parser)
    parser.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run

    return run(args.port, args.issuer_port, args.state_dir, opaque=args.opaque)


# --- call --------------------------------------------------------------------------------


def _add_call_command(commands: _Commands) -> None:
    parser = commands.add_parser(
        "call", help="call a tool of an MCP server with a bearer token",
        description="Call TOOL on the streamable-HTTP MCP server at URL and print its "
                    "structured result as JSON (or one field of it with --get).",
    )
    parser.add_argument("url", help="the MCP endpoint, e.g. http://127.0.0.1:8000/mcp")
    parser.add_argument("tool", help="the tool's name")
    parser.add_argument("--token", required=True, help="the bearer token")
    parser.add_argument("--arg", action="append", default=[], type=_name_value,
                        metavar="NAME=VALUE", help="a tool argument (JSON or string); repeatable")
    parser.add_argument("--get", metavar="FIELD", help="print only this field of the result")
    _add_dpop_options(parser, "send the token DPoP-bound to the development DPoP key "
                              "(Authorization: DPoP and a proof) instead of as a bearer token")
    _add_state_dir(parser)
    parser.set_defaults(handler=_run_call)


def _run_call(args: argparse.Namespace) -> int:
    import asyncio

    from .demo import call_tool

    result = asyncio.run(call_tool(args.url, args.tool, args.token, dict(args.arg),
                                   dpop_key=_dpop_key(args)))
    if args.get is not None:
        value = result.get(args.get) if isinstance(result, dict) else None
        print(value if isinstance(value, str) else json.dumps(value))
    else:
        print(json.dumps(result, indent=2))
    return 0


# --- bench -------------------------------------------------------------------------------


def _add_bench_command(commands: _Commands) -> None:
    parser = commands.add_parser(
        "bench", help="measure cold and warm verification on this machine",
        description="Time cold and warm token verification against their floors (the raw "
                    "cryptography verify; a dict lookup), interleaved, and print the ratios.",
    )
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="measuring time after calibration (default: 10)")
    parser.add_argument("--algorithms", default="RS256,PS256,ES256,EdDSA,HS256",
                        help="comma-separated (default: RS256,PS256,ES256,EdDSA,HS256)")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON")
    parser.set_defaults(handler=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from .bench import run_inprocess_bench

    result = run_inprocess_bench(args.seconds, algorithms=args.algorithms.split(","))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0
