"""Issue 17 items 3 to 5: every decision counted in its reason class, read at scrape time by
``MCPAuth.metrics``, a Prometheus scrape and OpenTelemetry; one DEBUG record per refusal and no
token in any of it."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from support import tokens
from support.app_factory import auth_server_mode, publish_keys, server_config, whoami_app
from support.jwks_server import JwksServer
from support.tokens import AUDIENCE, claims, signing_key

from mcpauth_fast import MCPAuth
from mcpauth_fast.decisions import REASONS
from mcpauth_fast.metrics.prometheus import register

NOW = time.time()


def token(alg: str = "ES256", kid: str | None = None, variant: int = 0, **overrides: Any
          ) -> str:
    value = signing_key(alg, kid=kid, variant=variant).mint(claims(time.time(), **overrides))
    tokens.MINTED.append(value)
    return value


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


#: One request of each kind, the status it gets and the reason class it must be counted in.
def requests_of_each_kind() -> list[tuple[str, dict[str, str], int, str | None]]:
    good = token()
    return [
        ("good", bearer(good), 200, None),
        ("good again", bearer(good), 200, None),
        ("no header", {}, 401, "missing"),
        ("another scheme", {"authorization": "Basic dXNlcjpwYXNz"}, 401, "missing"),
        ("bearer without a token", {"authorization": "Bearer"}, 401, "malformed"),
        ("garbage", bearer("not-a-jwt"), 401, "malformed"),
        ("not b64token", {"authorization": "Bearer a b"}, 401, "malformed"),
        ("expired", bearer(token(exp=int(NOW) - 600, iat=int(NOW) - 4000,
                                 nbf=int(NOW) - 4000)), 401, "expired"),
        ("not yet valid", bearer(token(nbf=int(NOW) + 600)), 401, "not_yet_valid"),
        ("forged", bearer(token(kid=signing_key("ES256").kid, variant=3)), 401,
         "bad_signature"),
        ("unknown kid", bearer(token(kid="never-published", variant=5)), 401, "unknown_key"),
        ("wrong issuer", bearer(token(iss="https://elsewhere.example.com")), 401,
         "wrong_issuer"),
        ("wrong audience", bearer(token(aud="https://other.example.com")), 401,
         "wrong_audience"),
        ("missing scope", bearer(token(scope="read")), 403, "insufficient_scope"),
        ("foreign origin", {**bearer(good), "origin": "https://evil.example.com"}, 403,
         "invalid_origin"),
    ]


@pytest.fixture
async def served(jwks_server: JwksServer) -> AsyncIterator[tuple[MCPAuth, httpx.AsyncClient]]:
    auth = auth_server_mode(jwks_server)
    middleware = auth.bearer_auth_middleware("jwt", audience=AUDIENCE,
                                             required_scopes=["read", "write"])
    app = whoami_app(auth, middleware)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as http:
        yield auth, http
    await auth.aclose()


def value(metrics: dict[str, Any], name: str, **labels: str) -> Any:
    found = [v for got, v in metrics[name] if got == labels]
    assert len(found) == 1, (name, labels, metrics[name])
    return found[0]


async def test_every_refusal_lands_in_its_reason_class(
        served: tuple[MCPAuth, httpx.AsyncClient], caplog: pytest.LogCaptureFixture) -> None:
    auth, http = served
    caplog.set_level(logging.DEBUG, logger="mcpauth_fast")
    sent = requests_of_each_kind()
    expected: Counter[tuple[int, str]] = Counter()
    for name, headers, status, reason in sent:
        response = await http.get("/whoami", headers=headers)
        assert response.status_code == status, (name, response.text)
        if reason is not None:
            expected[status, reason] += 1
    metrics = auth.metrics()
    refused = {(int(labels["status"]), labels["reason"]): count
               for labels, count in metrics["mcpauth_requests_refused"]}
    assert refused == dict(expected)
    assert value(metrics, "mcpauth_requests_accepted") == 2
    assert sum(refused.values()) + 2 == len(sent)
    assert {reason for _, reason in refused} <= set(REASONS)
    # One DEBUG record per refusal, with its reason class; no token anywhere in the logs.
    records = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert len(records) == sum(expected.values())
    assert Counter(message.split(" ")[4] for message in records) == Counter(
        {reason: n for (_, reason), n in expected.items()})
    assert all(r.levelno == logging.DEBUG for r in caplog.records
               if r.getMessage().startswith("refused"))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(minted in text for minted in tokens.MINTED)


async def test_caches_key_sets_and_verifications_are_read_at_scrape_time(
        served: tuple[MCPAuth, httpx.AsyncClient], jwks_server: JwksServer) -> None:
    auth, http = served
    first, second = token(jti="a"), token(jti="b")
    for value_ in (first, first, first, second):
        assert (await http.get("/whoami", headers=bearer(value_))).status_code == 200
    metrics = auth.metrics()
    assert value(metrics, "mcpauth_token_cache_hits", cache="jwt") == 2
    assert value(metrics, "mcpauth_token_cache_misses", cache="jwt") == 2
    assert value(metrics, "mcpauth_token_cache_entries", cache="jwt") == 2
    assert value(metrics, "mcpauth_token_cache_capacity", cache="jwt") == 4096
    count, seconds = value(metrics, "mcpauth_verification")
    assert count == 2 and 0 < seconds < 5
    assert value(metrics, "mcpauth_jwks_fetches", jwks_uri=jwks_server.url) == 1
    assert value(metrics, "mcpauth_jwks_fetch_failures", jwks_uri=jwks_server.url) == 0
    assert value(metrics, "mcpauth_jwks_keys", jwks_uri=jwks_server.url) == 3
    assert 0 <= value(metrics, "mcpauth_jwks_age", jwks_uri=jwks_server.url) < 60
    assert value(metrics, "mcpauth_revocations") == 0
    assert "mcpauth_shared_cache_hits" not in metrics  # no Redis configured


async def test_evictions_and_revocations_are_counted(jwks_server: JwksServer) -> None:
    publish_keys(jwks_server)
    auth = MCPAuth(server=server_config(jwks_server.url))
    app = whoami_app(auth, auth.bearer_auth_middleware("jwt", cache_size=2))
    values = [token(jti=f"e{n}") for n in range(4)]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as http:
        for each in values:
            assert (await http.get("/whoami", headers=bearer(each))).status_code == 200
        await auth.revoke(token=values[-1])
        assert (await http.get("/whoami", headers=bearer(values[-1]))).status_code == 401
    metrics = auth.metrics()
    assert value(metrics, "mcpauth_token_cache_evictions", cache="jwt") == 2
    assert value(metrics, "mcpauth_revocation_evictions") == 1
    assert value(metrics, "mcpauth_revocations") == 1
    assert value(metrics, "mcpauth_requests_refused", status="401", reason="revoked") == 1
    await auth.aclose()


async def test_a_prometheus_scrape(served: tuple[MCPAuth, httpx.AsyncClient],
                                   jwks_server: JwksServer) -> None:
    auth, http = served
    registry = CollectorRegistry()
    register(auth, registry)
    assert (await http.get("/whoami", headers=bearer(token()))).status_code == 200
    assert (await http.get("/whoami")).status_code == 401
    expired = token(exp=int(NOW) - 600, iat=int(NOW) - 4000, nbf=int(NOW) - 4000)
    assert (await http.get("/whoami", headers=bearer(expired))).status_code == 401
    scrape = generate_latest(registry).decode()
    for line in (
        "mcpauth_requests_accepted_total 1.0",
        'mcpauth_requests_refused_total{reason="missing",status="401"} 1.0',
        'mcpauth_requests_refused_total{reason="expired",status="401"} 1.0',
        "mcpauth_verification_seconds_count 2.0",
        'mcpauth_token_cache_misses_total{cache="jwt"} 2.0',
        f'mcpauth_jwks_fetches_total{{jwks_uri="{jwks_server.url}"}} 1.0',
        "# TYPE mcpauth_jwks_age_seconds gauge",
    ):
        assert line in scrape.splitlines(), (line, scrape)
    assert not any(minted in scrape for minted in tokens.MINTED)


async def test_opentelemetry_metrics_and_span_attributes(
        served: tuple[MCPAuth, httpx.AsyncClient]) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from mcpauth_fast.metrics.otel import instrument

    auth, http = served
    reader = InMemoryMetricReader()
    instrument(auth, MeterProvider(metric_readers=[reader]), span_attributes=True)
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("good"):
        assert (await http.get("/whoami", headers=bearer(token()))).status_code == 200
    with tracer.start_as_current_span("scope"):
        response = await http.get("/whoami", headers=bearer(token(scope="read")))
        assert response.status_code == 403
    spans = {span.name: dict(span.attributes or {}) for span in exporter.get_finished_spans()}
    assert spans["good"] == {"mcpauth.outcome": "accepted"}
    assert spans["scope"] == {"mcpauth.outcome": "refused",
                              "mcpauth.reason": "insufficient_scope",
                              "http.response.status_code": 403}
    data = reader.get_metrics_data()
    points = {
        metric.name: [(dict(point.attributes or {}), point.value)
                      for point in metric.data.data_points]
        for resource in data.resource_metrics for scope in resource.scope_metrics
        for metric in scope.metrics}
    assert points["mcpauth.requests.accepted"] == [({}, 1)]
    assert points["mcpauth.requests.refused"] == [
        ({"status": "403", "reason": "insufficient_scope"}, 1)]
    assert points["mcpauth.verification.count"] == [({}, 2)]
    assert points["mcpauth.token.cache.hits"] == [({"cache": "jwt"}, 0)]
