"""The metrics of an ``MCPAuth`` as a Prometheus collector (extra ``prometheus``).

    from mcpauth_fast.metrics.prometheus import register
    register(mcp_auth)            # then serve prometheus_client's registry as usual

Counters end in ``_total``, the verification time is a summary in seconds
(``mcpauth_verification_seconds_count`` / ``_sum``); every value is read at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from . import families

if TYPE_CHECKING:
    from ..auth import MCPAuth

try:
    from prometheus_client.core import (
        REGISTRY,
        CounterMetricFamily,
        GaugeMetricFamily,
        SummaryMetricFamily,
    )
    from prometheus_client.registry import Collector, CollectorRegistry
except ImportError as error:  # pragma: no cover - the extra is installed in the tests
    raise ImportError("mcpauth_fast.metrics.prometheus needs prometheus-client: "
                      "pip install 'mcpauth-fast[prometheus]'") from error

__all__ = ["MCPAuthCollector", "register"]

_KINDS: dict[str, Any] = {"counter": CounterMetricFamily, "gauge": GaugeMetricFamily,
                          "summary": SummaryMetricFamily}


class MCPAuthCollector(Collector):
    """Reads ``mcp_auth``'s counters at each scrape."""

    def __init__(self, mcp_auth: MCPAuth) -> None:
        self.mcp_auth = mcp_auth

    def collect(self) -> Iterator[Any]:
        for family in families(self.mcp_auth):
            names = sorted({name for labels, _ in family.samples for name in labels})
            metric = _KINDS[family.kind](family.name, family.help, labels=names,
                                         unit=family.unit)
            for labels, value in family.samples:
                values = [labels[name] for name in names]
                if family.kind == "summary":
                    metric.add_metric(values, count_value=value[0], sum_value=value[1])
                else:
                    metric.add_metric(values, value)
            yield metric


def register(mcp_auth: MCPAuth, registry: CollectorRegistry = REGISTRY) -> MCPAuthCollector:
    """Register a collector of ``mcp_auth`` with ``registry`` (default: the global one)."""
    collector = MCPAuthCollector(mcp_auth)
    registry.register(collector)
    return collector
