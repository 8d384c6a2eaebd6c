"""The metrics of an ``MCPAuth`` as OpenTelemetry instruments, and the outcome of each
request on its span (extra ``otel``: ``opentelemetry-api``; the SDK is the application's).

    from mcpauth_fast.metrics.otel import instrument
    instrument(mcp_auth)                       # the global MeterProvider
    instrument(mcp_auth, span_attributes=True) # also mcpauth.outcome on the request's span

Each family is an observable counter or gauge named with dots (``mcpauth.requests.refused``),
read at collection time; the verification summary is ``mcpauth.verification.count`` and
``mcpauth.verification.duration`` (seconds). Span attributes: ``mcpauth.outcome``
(``accepted`` or ``refused``) and, for a refusal, ``mcpauth.reason`` (a reason class) and
``http.response.status_code``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from . import Family, families

if TYPE_CHECKING:
    from ..auth import MCPAuth

try:
    from opentelemetry import metrics, trace
    from opentelemetry.metrics import CallbackOptions, Observation
except ImportError as error:  # pragma: no cover - the extra is installed in the tests
    raise ImportError("mcpauth_fast.metrics.otel needs opentelemetry-api: "
                      "pip install 'mcpauth-fast[otel]'") from error

__all__ = ["instrument", "mark_span"]


def instrument(mcp_auth: MCPAuth, meter_provider: Any = None, *,
               span_attributes: bool = False) -> list[Any]:
    """Create ``mcp_auth``'s instruments on ``meter_provider`` (default: the global one);
    with ``span_attributes``, mark each request's current span with its outcome. Returns the
    instruments."""
    meter = metrics.get_meter("mcpauth_fast", meter_provider=meter_provider)
    made = []
    for family in families(mcp_auth):
        parts: list[tuple[str, str, str, int | None]] = [
            (family.name, family.kind, family.unit, None)]
        if family.kind == "summary":
            parts = [(f"{family.name}_count", "counter", "", 0),
                     (f"{family.name}_duration", "counter", family.unit, 1)]
        for name, kind, unit, part in parts:
            create = (meter.create_observable_counter if kind == "counter"
                      else meter.create_observable_gauge)
            made.append(create(name.replace("_", "."), callbacks=[
                _reader(mcp_auth, family.name, part)], unit=_UNITS.get(unit, unit),
                description=family.help))
    if span_attributes:
        mcp_auth._decisions.span = mark_span
    return made


_UNITS = {"seconds": "s"}


def _reader(mcp_auth: MCPAuth, name: str, part: int | None
            ) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        family: Family | None = next(
            (f for f in families(mcp_auth) if f.name == name), None)
        if family is None:
            return []
        return [Observation(value if part is None else value[part], labels)
                for labels, value in family.samples]

    return observe


def mark_span(outcome: str, reason: str | None = None, status: int | None = None) -> None:
    """Put a request's outcome on the current span (a no-op without a recording span)."""
    span = trace.get_current_span()
    if not span.is_recording():
        return
    span.set_attribute("mcpauth.outcome", outcome)
    if reason is not None:
        span.set_attribute("mcpauth.reason", reason)
    if status is not None:
        span.set_attribute("http.response.status_code", status)
