"""DPoP (RFC 9449) on a cached token, counted: instructions per request, against its floor.

Issue 18's bar, as valgrind callgrind instruction counts (repeatable on a busy machine): one
DPoP request whose token is already cached costs at most 1.15x (a cache-hit Bearer request +
the raw ``cryptography`` verify of the proof's signature). The requests are those of the
``fast-same`` end-to-end contender (``bench/e2e_apps.py``'s ``fast_app``: Starlette,
``GET /whoami`` behind ``bearer_auth_middleware("jwt", audience=..., required_scopes=
["read"])``, the subject read through ``MCPAuth.auth_info``, one RS256 token from the dev
issuer, repeated), sent in process (no sockets, no uvicorn) to:

- ``bearer``: the ``fast-same`` app (no ``dpop=``), its Bearer token: the cache-hit floor;
- ``bearer-dpop-app``: the same app with ``dpop=True``, the same Bearer token (for scale);
- ``dpop-es256`` / ``dpop-eddsa``: the ``dpop=True`` app, ``Authorization: DPoP <token>``
  with a token bound (``cnf.jkt``) to a P-256 / Ed25519 key, and a ``DPoP`` proof made by
  ``mcpauth_fast.dev.dpop_client.DPoPKey.proof`` for ``GET http://127.0.0.1:8000/whoami``
  (the request's scheme and ``Host``), a new one (new ``jti``) for every request.

And, in the same process, measured the same way, the raw ``cryptography`` verify of one proof
signature (the signing input and signature of a new proof each call, as the requests have:
Ed25519 verification is variable-time, some signatures cost more; the key built once):

- ``raw-es256-der``: ``r || s`` to DER (``int.from_bytes`` twice, ``encode_dss_signature``)
  and ``public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))``: what any JWS
  verifier must do with ``cryptography``; the bar's ES256 floor;
- ``raw-es256``: the same verify with the DER signature made beforehand (reported);
- ``raw-eddsa``: ``Ed25519PublicKey.verify(signature, signing_input)``; the EdDSA floor;
- ``empty-call`` / ``empty-await``: the loops' own cost per iteration (not subtracted).

Proofs are made before the counted section: each batch of N DPoP requests is preceded by a
``prep`` command that makes its N proofs and header lists (counted apart, then dropped), so
every proof is seconds old and none is reused. The measuring is ``bench/callgrind.py``'s, as
in ``bench/sdk_verifier_instructions.py``: one process under ``valgrind --tool=callgrind``
(``PYTHONHASHSEED=0``), a warm-up and ``gc.freeze()``, then for each kind a batch of N and one
of 2N between ``callgrind_control -z`` and ``-d``; per request = (2N dump - N dump) / N.
Before counting, the ``dpop=True`` app must refuse (401) a replayed proof, a bound token sent
as Bearer, a proof by another key and a DPoP token without a proof.

Where the DPoP path's instructions go: a second process counts its steps alone (``parts``):
``key_from_jwk``, ``jwk_thumbprint``, ``decode_jws`` of the proof, the ``ath`` hash, the
``htu`` normalisation, ``ReplayCache.seen``, the package's ``VerificationKey.verify`` and the
whole ``DPoPProofVerifier.verify`` (with a replay guard that never refuses, so one proof can be
checked N times); and ``callgrind_annotate`` (exclusive) of the 2N batches gives the C
functions (OpenSSL, the interpreter) per request, DPoP minus Bearer + raw verify.

Then a wall-clock side-by-side (no valgrind): interleaved rounds of the same in-process
requests and raw verifies, median microseconds per call.

    .venv/bin/python bench/dpop_instructions.py                  # ~1 minute on 2 cores
    .venv/bin/python bench/dpop_instructions.py --requests 100 --wall-rounds 0

Writes ``bench/results/dpop-instructions.json`` and ``.md``; exits 1 when the bar is not met.
Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import callgrind  # noqa: E402  (bench/ is not a package)
from e2e_server import AUDIENCE, SCOPE  # noqa: E402
from operations_instructions import Exchange, log, versions  # noqa: E402

DEFAULT_OUT = BENCH / "results" / "dpop-instructions.json"
BAR = 1.15
HOST = "127.0.0.1:8000"
PATH = "/whoami"
URL = f"http://{HOST}{PATH}"
ALGS = {"es256": "ES256", "eddsa": "EdDSA"}
#: (kind, app, token, proof key): the requests.
REQUESTS = (
    ("bearer", "fast", "bearer", None),
    ("bearer-dpop-app", "fast-dpop", "bearer", None),
    ("dpop-es256", "fast-dpop", "es256", "es256"),
    ("dpop-eddsa", "fast-dpop", "eddsa", "eddsa"),
)
CALLS = ("raw-es256-der", "raw-es256", "raw-eddsa", "empty-call", "empty-await")
KINDS = tuple(r[0] for r in REQUESTS) + CALLS


# --- the measured process ------------------------------------------------------------------

class NeverSeen:
    """A replay guard that never refuses: one proof checked N times (``parts`` only)."""

    def seen(self, jti: str, until: float, now: float | None = None) -> bool:
        return False


def _b64decode(value: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


class Setup:
    """The child's apps, keys, tokens, proofs and raw verifies."""

    def __init__(self, setup: dict[str, Any]) -> None:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
        from e2e_apps import fast_app

        from mcpauth_fast.dev.dpop_client import DPoPKey

        self.tokens: dict[str, str] = setup["tokens"]
        self.keys = {name: DPoPKey.from_pem(pem.encode()) for name, pem in setup["keys"].items()}
        self.apps = {
            "fast": fast_app(setup["issuer"], setup["jwks_uri"], AUDIENCE),
            "fast-dpop": fast_app(setup["issuer"], setup["jwks_uri"], AUDIENCE, dpop=True),
        }
        self.template = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1", "method": "GET", "scheme": "http", "path": PATH,
            "raw_path": PATH.encode(), "root_path": "", "query_string": b"",
            "client": ("127.0.0.1", 51234), "server": ("127.0.0.1", 8000),
        }
        # The raw verifies: a real proof of each key, its key built once.
        self.sample: dict[str, tuple[bytes, bytes, str]] = {}
        for name, key in self.keys.items():
            proof = key.proof("GET", URL, access_token=self.tokens[name])
            signing_input, _, signature = proof.rpartition(".")
            self.sample[name] = (signing_input.encode("ascii"), _b64decode(signature), proof)
        es_jwk = self.keys["es256"].jwk
        es_public = ec.EllipticCurvePublicNumbers(
            int.from_bytes(_b64decode(es_jwk["x"]), "big"),
            int.from_bytes(_b64decode(es_jwk["y"]), "big"), ec.SECP256R1()).public_key()
        ecdsa = ec.ECDSA(hashes.SHA256())
        ed_public = ed25519.Ed25519PublicKey.from_public_bytes(
            _b64decode(self.keys["eddsa"].jwk["x"]))

        def raw_es256_der(signing_input: bytes, signature: bytes) -> None:
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                       int.from_bytes(signature[32:], "big"))
            es_public.verify(der, signing_input, ecdsa)

        def raw_es256(signing_input: bytes, der: bytes) -> None:
            es_public.verify(der, signing_input, ecdsa)

        def raw_eddsa(signing_input: bytes, signature: bytes) -> None:
            ed_public.verify(signature, signing_input)

        def empty(signing_input: bytes, signature: bytes) -> None:
            return None

        def to_der(signature: bytes) -> bytes:
            return encode_dss_signature(int.from_bytes(signature[:32], "big"),
                                        int.from_bytes(signature[32:], "big"))

        self.to_der = to_der

        self.calls = {"raw-es256-der": raw_es256_der, "raw-es256": raw_es256,
                      "raw-eddsa": raw_eddsa, "empty-call": empty}
        self.queues: dict[str, list[Any]] = {}

    def headers(self, token: str, scheme: str = "Bearer", proof: str | None = None
                ) -> list[tuple[bytes, bytes]]:
        headers = [(b"host", HOST.encode()), (b"user-agent", b"bench"), (b"accept", b"*/*"),
                   (b"authorization", f"{scheme} {token}".encode())]
        if proof is not None:
            headers.append((b"dpop", proof.encode()))
        return headers

    def prep(self, kind: str, n: int) -> None:
        """The header lists of the next ``n`` requests of ``kind`` (a new proof each), or the
        (signing input, signature) of the next ``n`` raw verifies: the signatures of new
        proofs, like the requests' (Ed25519 verification takes longer on some signatures)."""
        if kind in CALLS:
            name = "eddsa" if kind == "raw-eddsa" else "es256"
            key, token = self.keys[name], self.tokens[name]
            pairs = []
            for _ in range(n):
                signing_input, _, signature = key.proof(
                    "GET", URL, access_token=token).rpartition(".")
                raw = _b64decode(signature)
                pairs.append((signing_input.encode("ascii"),
                              self.to_der(raw) if kind == "raw-es256" else raw))
            self.queues[kind] = pairs
            return
        spec = next(r for r in REQUESTS if r[0] == kind)
        token = self.tokens[spec[2]]
        if spec[3] is None:
            same = self.headers(token)
            self.queues[kind] = [same] * n
        else:
            key = self.keys[spec[3]]
            self.queues[kind] = [self.headers(token, "DPoP", key.proof("GET", URL,
                                                                     access_token=token))
                                 for _ in range(n)]

    async def request(self, app: str, headers: list[tuple[bytes, bytes]]) -> Exchange:
        scope = dict(self.template)
        scope["headers"] = headers
        exchange = Exchange(b"")
        await self.apps[app](scope, exchange.receive, exchange.send)
        return exchange

    async def run(self, kind: str, n: int) -> int:
        """``n`` requests or calls of ``kind``; the number of responses other than 200."""
        queue = self.queues.pop(kind, None)
        if queue is None or len(queue) < n:
            raise RuntimeError(f"{kind}: {n} requests without their prep")
        if kind in self.calls:
            fn = self.calls[kind]
            for signing_input, signature in queue[:n]:
                fn(signing_input, signature)
            return 0
        if kind == "empty-await":
            for _ in queue[:n]:
                await _empty()
            return 0
        app = next(r[1] for r in REQUESTS if r[0] == kind)
        bad = 0
        for headers in queue[:n]:
            if (await self.request(app, headers)).status != 200:
                bad += 1
        return bad

    async def probes(self) -> None:
        """The dpop=True app refuses what it must, and lets the good requests in."""
        key, token = self.keys["es256"], self.tokens["es256"]
        proof = key.proof("GET", URL, access_token=token)
        other = self.keys["eddsa"].proof("GET", URL, access_token=token)
        cases = [
            (self.headers(token, "DPoP", proof), 200),
            (self.headers(token, "DPoP", proof), 401),  # the same proof again
            (self.headers(token), 401),  # a bound token as Bearer
            (self.headers(token, "DPoP", other), 401),  # a proof by another key
            (self.headers(token, "DPoP"), 401),  # no proof
            (self.headers(self.tokens["bearer"]), 200),
        ]
        for headers, expected in cases:
            got = await self.request("fast-dpop", headers)
            if got.status != expected:
                raise RuntimeError(f"probe: status {got.status}, expected {expected}: "
                                   f"{b''.join(got.chunks)[:300]!r}")
        first = await self.request("fast", self.headers(self.tokens["bearer"]))
        if first.status != 200 or b'"alice"' not in b"".join(first.chunks):
            raise RuntimeError(f"fast app: {first.status} {b''.join(first.chunks)[:300]!r}")


async def _empty() -> None:
    return None


async def drive(setup: dict[str, Any], warmup: int) -> None:
    """Warm up, then the parent's commands on stdin (``prep <kind> <n>``, ``run <kind> <n>``;
    ``quit``), each answered ``done <bad responses>``."""
    bench = Setup(setup)
    await bench.probes()
    for kind in KINDS:
        bench.prep(kind, warmup)
        if await bench.run(kind, warmup):
            raise RuntimeError(f"warm-up of {kind}: a status other than 200")
    gc.collect()
    gc.freeze()
    print("ready", flush=True)
    for line in sys.stdin:  # blocks the loop between commands: no timer runs meanwhile
        command = line.split()
        if command == ["quit"]:
            return
        verb, kind, n = command
        if verb == "prep":
            bench.prep(kind, int(n))
            print("done 0", flush=True)
        else:
            print(f"done {await bench.run(kind, int(n))}", flush=True)


async def drive_parts(setup: dict[str, Any], warmup: int) -> None:
    """The DPoP path's steps alone, in loops the parent asks for (``<part> <n>``)."""
    from mcpauth_fast._accel import decode_jws
    from mcpauth_fast.dpop.proof import (
        MAX_PROOF_BYTES,
        DPoPProofVerifier,
        _b64url,
        _normalised_uri,
        jwk_thumbprint,
    )
    from mcpauth_fast.dpop.replay import ReplayCache
    from mcpauth_fast.dpop.resource import DPoPOptions, DPoPResource, dpop_token
    from mcpauth_fast.keys import key_from_jwk

    bench = Setup(setup)
    verifier = DPoPProofVerifier(replay=NeverSeen())
    resource = DPoPResource(DPoPOptions())
    replay = ReplayCache()
    jtis = iter([f"jti-{i:08d}" for i in range(4 * warmup + 64 * 1024)])
    scope = dict(bench.template)
    scope["headers"] = bench.headers(bench.tokens["es256"], "DPoP", bench.sample["es256"][2])
    authorization = f"DPoP {bench.tokens['es256']}".encode()
    parts: dict[str, Any] = {"loop: empty call": lambda: None}
    for name, key in bench.keys.items():
        jwk, token = key.jwk, bench.tokens[name]
        signing_input, signature, proof = bench.sample[name]
        built = key_from_jwk(jwk)
        alg = key.alg
        parts.update({
            f"{alg}: DPoPProofVerifier.verify (whole, no replay)": (
                lambda p=proof, t=token, k=key.thumbprint: verifier.verify(
                    [p], method="GET", uri=URL, access_token=t, jkt=k)),
            f"{alg}: decode_jws(proof)": lambda p=proof: decode_jws(p, MAX_PROOF_BYTES),
            f"{alg}: key_from_jwk(jwk)": lambda j=jwk: key_from_jwk(j),
            f"{alg}: jwk_thumbprint(jwk)": lambda j=jwk: jwk_thumbprint(j),
            f"{alg}: VerificationKey.verify (built key)": (
                lambda b=built, a=alg, s=signing_input, g=signature: b.verify(a, s, g)),
        })
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    es_point = b"\x04" + _b64decode(bench.keys["es256"].jwk["x"]) + _b64decode(
        bench.keys["es256"].jwk["y"])
    ed_bytes = _b64decode(bench.keys["eddsa"].jwk["x"])
    token = bench.tokens["es256"]
    token_bytes = token.encode()
    parts.update({
        "ES256: EllipticCurvePublicKey.from_encoded_point alone": (
            lambda: ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), es_point)),
        "EdDSA: Ed25519PublicKey.from_public_bytes alone": (
            lambda: ed25519.Ed25519PublicKey.from_public_bytes(ed_bytes)),
        "hashlib.sha256(token bytes).digest() alone": (
            lambda: hashlib.sha256(token_bytes).digest()),
        "ath: b64url(sha256(token))": lambda: _b64url(hashlib.sha256(token.encode()).digest()),
        "htu: _normalised_uri(uri)": lambda: _normalised_uri(URL),
        "htu: DPoPResource.uri(scope)": lambda: resource.uri(scope),
        "ReplayCache.seen (new jti)": lambda: replay.seen(next(jtis), time.time() + 300),
        "dpop_token(authorization)": lambda: dpop_token(authorization, 16384),
        "time.time()": time.time,
    })
    for fn in parts.values():
        for _ in range(warmup):
            fn()
    await callgrind.serve_parts(parts, {})


async def drive_wall(setup: dict[str, Any], rounds: int, per: int, warmup: int) -> None:
    """Interleaved rounds, natively: microseconds per request or call, per round."""
    bench = Setup(setup)
    await bench.probes()
    kinds = [k for k in KINDS if not k.startswith("empty")]
    for kind in kinds:
        bench.prep(kind, warmup)
        await bench.run(kind, warmup)
    times: dict[str, list[float]] = {k: [] for k in kinds}
    for r in range(rounds):
        for kind in kinds if r % 2 == 0 else kinds[::-1]:
            bench.prep(kind, per)
            gc.collect()
            started = time.perf_counter()
            bad = await bench.run(kind, per)
            elapsed = time.perf_counter() - started
            if bad:
                raise RuntimeError(f"wall: {kind}: {bad} responses were not 200")
            times[kind].append(elapsed / per * 1e6)
    print(json.dumps(times), flush=True)


def child(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("requests", "parts", "wall"))
    parser.add_argument("--setup", required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=0)
    parser.add_argument("--per", type=int, default=0)
    args = parser.parse_args(argv)
    setup = json.loads(Path(args.setup).read_text())
    if args.mode == "requests":
        asyncio.run(drive(setup, args.warmup))
    elif args.mode == "parts":
        asyncio.run(drive_parts(setup, args.warmup))
    else:
        asyncio.run(drive_wall(setup, args.rounds, args.per, args.warmup))
    return 0


# --- the harness ---------------------------------------------------------------------------

_ANNOTATE_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(\S.*?)(?:\s+\[([^\]]*)\])?$")


def annotate(dump: Path, requests: int) -> dict[str, float]:
    """Per request, the self instructions of each C function of one callgrind dump, as
    ``function [object file]``. The frames on the stack when the counters were zeroed carry
    the whole batch (an artefact of dumping mid-run): rows of 99 % or more are left out."""
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100",
                          str(dump)], capture_output=True, text=True, check=True).stdout
    total = callgrind.dumped_total(dump.with_suffix(""), int(dump.suffix[1:]))
    found: dict[str, float] = {}
    for line in out.split("file:function", 1)[-1].splitlines():
        match = _ANNOTATE_LINE.match(line)
        if match is None:
            continue
        count = int(match.group(1).replace(",", ""))
        if count >= 0.99 * total:
            continue
        function = match.group(2).rsplit(":", 1)[-1]
        obj = Path(match.group(3) or "???").name
        name = f"{function} [{obj}]"
        found[name] = found.get(name, 0) + count / requests
    return found


def by_object(profile: dict[str, float]) -> dict[str, float]:
    """``annotate``'s rows summed per object file."""
    objects: dict[str, float] = {}
    for name, value in profile.items():
        obj = name.rsplit(" [", 1)[-1].rstrip("]")
        objects[obj] = objects.get(obj, 0) + value
    return objects


def measure_requests(workdir: Path, setup_file: Path, args: argparse.Namespace
                     ) -> dict[str, Any]:
    n = args.requests
    commands = [f"{verb} {kind} {size}" for kind in KINDS for size in (n, 2 * n)
                for verb in ("prep", "run")]
    started = time.time()
    totals = callgrind.counted_session(
        workdir, "requests", Path(__file__).resolve(),
        ["requests", "--setup", str(setup_file), "--warmup", str(args.warmup)],
        lambda _: commands)
    counted = dict(zip(commands, totals, strict=True))
    results = {}
    for kind in KINDS:
        small, large = counted[f"run {kind} {n}"], counted[f"run {kind} {2 * n}"]
        results[kind] = {"per_request": (large - small) / n,
                         "batches": {str(n): small / n, str(2 * n): large / (2 * n)}}
        log(f"{kind:17s} {(large - small) / n:12,.0f} instructions per call "
            f"(batches {small / n:,.0f}, {large / (2 * n):,.0f})")
    out = workdir / "callgrind-requests.out"
    profile = {kind: annotate(out.with_name(f"{out.name}."
                                            f"{commands.index(f'run {kind} {2 * n}') + 1}"),
                              2 * n)
               for kind in ("bearer", "dpop-es256", "dpop-eddsa", "raw-es256-der", "raw-eddsa")}
    log(f"requests: {time.time() - started:.1f} s")
    return {"results": results, "profile": profile}


def measure_parts(workdir: Path, setup_file: Path, args: argparse.Namespace
                  ) -> dict[str, float]:
    n = args.parts_n
    names: list[str] = []

    def batches(ready: str) -> list[str]:
        names.extend(json.loads(ready.split(" ", 1)[1]))
        return [f"{name} {size}" for name in names for size in (n, 2 * n)]

    started = time.time()
    totals = callgrind.counted_session(
        workdir, "parts", Path(__file__).resolve(),
        ["parts", "--setup", str(setup_file), "--warmup", str(args.warmup)], batches)
    log(f"parts: {time.time() - started:.1f} s")
    return {name: (totals[2 * i + 1] - totals[2 * i]) / n for i, name in enumerate(names)}


def measure_wall(setup_file: Path, args: argparse.Namespace) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", "wall", "--setup",
         str(setup_file), "--warmup", str(args.warmup), "--rounds", str(args.wall_rounds),
         "--per", str(args.wall_per)], capture_output=True, text=True, check=True,
        cwd=BENCH.parent)
    times = json.loads(out.stdout.strip().splitlines()[-1])
    return {kind: {"median_us": statistics.median(v), "min_us": min(v), "rounds_us": v}
            for kind, v in times.items()}


def bars(per: dict[str, float]) -> list[dict[str, Any]]:
    bearer = per["bearer"]
    rows = []
    for alg, floor, bar in (("ES256", "raw-es256-der", BAR), ("ES256", "raw-es256", None),
                            ("EdDSA", "raw-eddsa", BAR)):
        dpop = per[f"dpop-{alg.lower()}"]
        ratio = dpop / (bearer + per[floor])
        rows.append({"name": f"dpop-{alg.lower()} / (bearer + {floor})", "alg": alg,
                     "ratio": ratio, "bar": bar, "met": bar is None or ratio <= bar,
                     "extra_over_floor": dpop - bearer - per[floor]})
    return rows


def top_differences(base: dict[str, float], other: dict[str, float], count: int = 30
                    ) -> list[tuple[str, float, float]]:
    """The rows whose instructions per request grow most from ``base`` to ``other``:
    (name, instructions in ``other``, difference)."""
    rows = [(name, value, value - base.get(name, 0.0)) for name, value in other.items()]
    rows.sort(key=lambda row: -row[2])
    return rows[:count]


def format_markdown(report: dict[str, Any]) -> str:
    per = {k: r["per_request"] for k, r in report["results"].items()}
    cfg = report["config"]
    lines = [
        "# DPoP on a cached token, counted (issue 18)", "",
        f"{report['date']}; " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()
                                          if k != "valgrind")
        + f"; {report['versions'].get('valgrind', '')}", "",
        f"Instructions per request or call (callgrind, in process; (2N - N) / N, N = "
        f"{cfg['requests']}, warm-up {cfg['warmup']}; `GET /whoami`, one RS256 token "
        f"repeated, a new proof per DPoP request):", "",
        "| kind | instructions | x bearer |", "| --- | ---: | ---: |",
    ]
    lines += [f"| {k} | {v:,.0f} | {v / per['bearer']:.3f} |" for k, v in per.items()]
    lines += ["", "| ratio | value | bar | DPoP - bearer - raw |", "| --- | ---: | --- | ---: |"]
    for b in report["bars"]:
        verdict = f"<= {b['bar']}: {'met' if b['met'] else 'NOT met'}" if b["bar"] else "reported"
        lines.append(f"| {b['name']} | {b['ratio']:.3f} | {verdict} | "
                     f"{b['extra_over_floor']:+,.0f} |")
    parts = report.get("parts")
    if parts:
        lines += ["", f"The DPoP path's steps alone ((2N - N) / N, N = {cfg['parts_n']}; "
                  "the loop's own cost is the first row, not subtracted):", "",
                  "| step | instructions |", "| --- | ---: |"]
        lines += [f"| {name} | {value:,.0f} |" for name, value in parts.items()]
    for kind in ("dpop-es256", "dpop-eddsa"):
        if kind in report.get("profile", {}):
            profile = report["profile"]
            raw = "raw-es256-der" if kind == "dpop-es256" else "raw-eddsa"
            lines += ["", f"{kind}: self instructions per request by object file, then by C "
                      f"function, and their growth over bearer + {raw} "
                      "(callgrind_annotate, exclusive; the interpreter's own frames are "
                      "not split out: see the steps above):", "",
                      "| object or function | instructions | - floor |",
                      "| --- | ---: | ---: |"]
            floor = dict(profile["bearer"])
            for name, value in profile[raw].items():
                floor[name] = floor.get(name, 0.0) + value
            rows = (top_differences(by_object(floor), by_object(profile[kind]), 8)
                    + top_differences(floor, profile[kind], 20))
            lines += [f"| `{name}` | {value:,.0f} | {diff:+,.0f} |" for name, value, diff in rows]
    wall = report.get("wall")
    if wall:
        lines += ["", f"Wall clock, natively, in process ({cfg['wall_rounds']} interleaved rounds "
                  f"of {cfg['wall_per']}; median microseconds per request or call):", "",
                  "| kind | median us | min us | requests/s |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {k} | {w['median_us']:.1f} | {w['min_us']:.1f} | "
                  f"{1e6 / w['median_us']:,.0f} |" for k, w in wall.items()]
        b = wall["bearer"]["median_us"]
        for alg, floor in (("es256", "raw-es256-der"), ("eddsa", "raw-eddsa")):
            lines.append(f"\nwall: dpop-{alg} / (bearer + {floor}) = "
                         f"{wall[f'dpop-{alg}']['median_us'] / (b + wall[floor]['median_us']):.3f}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100, help="N: batches of N and 2N")
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--parts-n", type=int, default=200,
                        help="N of the DPoP path's steps alone (0: not measured)")
    parser.add_argument("--wall-rounds", type=int, default=10,
                        help="interleaved wall-clock rounds (0: none)")
    parser.add_argument("--wall-per", type=int, default=300, help="requests per kind a round")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install -y valgrind)")
    from mcpauth_fast.dev.dpop_client import DPoPKey
    from mcpauth_fast.dev.issuer import DevIssuer

    started = time.time()
    workdir = Path(tempfile.mkdtemp(prefix="mcpauth-dpop-instr-"))
    report: dict[str, Any] = {
        "benchmark": "dpop-instructions", "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join([Path(sys.executable).name, "bench/dpop_instructions.py", *argv]),
        "versions": versions(),
        "config": {"requests": args.requests, "warmup": args.warmup, "parts_n": args.parts_n,
                   "wall_rounds": args.wall_rounds, "wall_per": args.wall_per, "url": URL,
                   "audience": AUDIENCE, "token_alg": "RS256", "bar": BAR},
    }
    try:
        with DevIssuer(state_dir=workdir / "issuer") as issuer:
            keys = {name: DPoPKey.generate(alg) for name, alg in ALGS.items()}
            tokens = {"bearer": issuer.mint(sub="alice", scope=SCOPE, aud=AUDIENCE,
                                            ttl=6 * 3600)}
            for name, key in keys.items():
                tokens[name] = issuer.mint(sub="alice", scope=SCOPE, aud=AUDIENCE,
                                           ttl=6 * 3600, cnf={"jkt": key.thumbprint})
            setup_file = workdir / "setup.json"
            setup_file.write_text(json.dumps({
                "issuer": issuer.issuer, "jwks_uri": issuer.jwks_uri, "tokens": tokens,
                "keys": {name: key.private_pem().decode() for name, key in keys.items()},
            }))
            log(f"work dir {workdir}")
            with ThreadPoolExecutor(2) as pool:
                parts = (pool.submit(measure_parts, workdir, setup_file, args)
                         if args.parts_n > 0 else None)
                counted = measure_requests(workdir, setup_file, args)
                if parts is not None:
                    report["parts"] = parts.result()
            report["results"] = counted["results"]
            report["profile"] = counted["profile"]
            if args.wall_rounds > 0:
                report["wall"] = measure_wall(setup_file, args)
    except BaseException:
        log(f"failed: kept {workdir}")
        raise
    if args.keep:
        log(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    report["bars"] = bars({k: r["per_request"] for k, r in report["results"].items()})
    report["seconds"] = round(time.time() - started, 1)
    markdown = format_markdown(report)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown)
    print(markdown)
    print(f"wrote {out} and {out.with_suffix('.md').name} in {report['seconds']:.0f} s")
    return 0 if all(b["met"] for b in report["bars"]) else 1


if __name__ == "__main__":
    sys.exit(main())
