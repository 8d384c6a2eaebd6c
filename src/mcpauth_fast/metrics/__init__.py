"""The metrics of one ``MCPAuth``, read at scrape time (``MCPAuth.metrics``).

Nothing here runs on a request: the counters are kept where the decisions are made
(``decisions.Decisions``, the token caches, the key sets, the introspection verifiers, the
shared tier), and a scrape reads them. ``prometheus.collector`` and ``otel.instrument`` expose
the same families. Label values come from configuration only (a refusal's status and reason
class, a cache's kind, a JWKS URL): never a token, a subject or a client.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..auth import MCPAuth

__all__ = ["Family", "families"]

Labels = dict[str, str]


@dataclass
class Family:
    """One metric: ``name`` without a ``_total`` suffix, its ``kind`` (``counter``,
    ``gauge`` or ``summary``; a summary's value is ``(count, sum)``), ``help``, ``unit`` and
    its ``samples``."""

    name: str
    kind: str
    help: str
    unit: str = ""
    samples: list[tuple[Labels, Any]] = field(default_factory=list)

    def add(self, value: Any, **labels: str) -> None:
        self.samples.append((labels, value))


def families(mcp_auth: MCPAuth) -> list[Family]:
    """Every family, read now."""
    decisions = mcp_auth._decisions
    accepted = Family("mcpauth_requests_accepted", "counter",
                      "Requests let in (their token valid for the route and operation).")
    accepted.add(decisions.accepted)
    refused = Family("mcpauth_requests_refused", "counter",
                     "Requests refused, by HTTP status and reason class.")
    for (status, reason), count in sorted(decisions.refused.items()):
        refused.add(count, status=str(status), reason=reason)
    verification = Family(
        "mcpauth_verification", "summary", "Verifications of tokens not in the cache "
        "(signature or introspection, custom verifiers too), and the time they took.",
        "seconds")
    verification.add((decisions.verifications, decisions.verification_seconds))
    return [accepted, refused, verification, *_caches(mcp_auth), *_key_sets(mcp_auth),
            *_introspection(mcp_auth), *_shared(mcp_auth)]


def _caches(mcp_auth: MCPAuth) -> Iterable[Family]:
    names = {"hits": "Lookups answered from a worker's cache.",
             "misses": "Lookups the cache could not answer.",
             "evictions": "Entries dropped to make room."}
    counters = {name: Family(f"mcpauth_token_cache_{name}", "counter", text)
                for name, text in names.items()}
    entries = Family("mcpauth_token_cache_entries", "gauge", "Entries in a worker's cache.")
    capacity = Family("mcpauth_token_cache_capacity", "gauge", "The most entries it keeps.")
    totals: dict[str, dict[str, int]] = {}
    for verifier in mcp_auth._verifiers.values():
        _sum_into(totals.setdefault("jwt", {}), verifier.cache.info())
    for introspector in mcp_auth._introspectors.values():
        tiers = introspector.local.info()
        _sum_into(totals.setdefault("introspection", {}), tiers["active"])
        _sum_into(totals.setdefault("introspection_refused", {}), tiers["refused"])
    for cache, info in totals.items():
        for name, family in counters.items():
            family.add(info.get(name, 0), cache=cache)
        entries.add(info["size"], cache=cache)
        capacity.add(info["maxsize"], cache=cache)
    return [*counters.values(), entries, capacity]


def _sum_into(total: dict[str, int], info: dict[str, int]) -> None:
    for name, value in info.items():
        total[name] = total.get(name, 0) + value


def _key_sets(mcp_auth: MCPAuth) -> Iterable[Family]:
    fetches = Family("mcpauth_jwks_fetches", "counter", "JWKS fetches, by key set URL.")
    failures = Family("mcpauth_jwks_fetch_failures", "counter", "JWKS fetches that failed.")
    keys = Family("mcpauth_jwks_keys", "gauge", "Usable keys in the set held.")
    age = Family("mcpauth_jwks_age", "gauge", "Time since the key set was last fetched.",
                 "seconds")
    now = time.time()
    for source in mcp_auth._key_sources.values():
        stats_of = getattr(source, "stats", None)
        stats = stats_of() if stats_of is not None else None
        if stats is None:
            continue
        url = stats["url"]
        fetches.add(stats["fetch_count"], jwks_uri=url)
        failures.add(stats["failure_count"], jwks_uri=url)
        keys.add(stats["key_count"], jwks_uri=url)
        if stats["last_success"] is not None:
            age.add(max(0.0, now - stats["last_success"]), jwks_uri=url)
    return [fetches, failures, keys, age]


def _introspection(mcp_auth: MCPAuth) -> Iterable[Family]:
    calls = Family("mcpauth_introspection_calls", "counter",
                   "Calls to the introspection endpoint.")
    failures = Family("mcpauth_introspection_failures", "counter",
                      "Introspection calls that failed (no answer, 5xx, not JSON).")
    verifiers = list(mcp_auth._introspectors.values())
    if verifiers:
        calls.add(sum(v.call_count for v in verifiers))
        failures.add(sum(v.failure_count for v in verifiers))
    return [calls, failures]


def _shared(mcp_auth: MCPAuth) -> Iterable[Family]:
    info = mcp_auth._tier.info()
    revocations = Family("mcpauth_revocations", "gauge", "Revocations this worker knows.")
    revocations.add(info["revocations"])
    evicted = Family("mcpauth_revocation_evictions", "counter",
                     "Cached tokens dropped because they were revoked.")
    evicted.add(info["evicted"])
    found = [revocations, evicted]
    redis = info["redis"]
    if redis is None:
        return found
    for name, text in (("hits", "Lookups answered from Redis."),
                       ("misses", "Lookups Redis could not answer."),
                       ("writes", "Entries written to Redis."),
                       ("rejected", "Values from Redis that failed authentication or had the "
                                    "wrong shape.")):
        family = Family(f"mcpauth_shared_cache_{name}", "counter", text)
        family.add(info[name])
        found.append(family)
    errors = Family("mcpauth_shared_cache_errors", "counter", "Redis commands that failed.")
    errors.add(redis["failures"])
    outages = Family("mcpauth_shared_cache_outages", "counter",
                     "Times Redis became unavailable.")
    outages.add(redis["outages"])
    up = Family("mcpauth_shared_cache_up", "gauge",
                "1 while Redis answers and revocations are being received, else 0.")
    up.add(int(not redis["down"] and redis["listening"]))
    return [*found, errors, outages, up]
