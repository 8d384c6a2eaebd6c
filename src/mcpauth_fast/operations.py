"""Scopes per MCP operation: per tool, per resource (exact URI, template or prefix), per prompt.

Rules come from configuration (``operation_scopes=``) and from ``MCPAuth.requires_scopes``,
the decorator written next to ``@mcp.tool()``: it marks the function, and the rules of an MCP
server's marked tools, resources and prompts are read from the server once, when the middleware
starts. The decorator also checks inside the function, so it never runs for a token without
its scopes, with or without the middleware in front.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from .exceptions import (
    BearerAuthExceptionCode,
    MCPAuthBearerAuthException,
    MCPAuthBearerAuthExceptionDetails,
    MCPAuthConfigException,
)
from .jsonrpc import Operation
from .scopes import ScopeHierarchy, scope_tokens
from .types import AuthInfo

F = TypeVar("F", bound=Callable[..., Any])

#: Where ``requires_scopes`` keeps a function's scopes.
MARK = "__mcpauth_required_scopes__"
_marked = [0]  # functions marked so far: a middleware reads its server again when it grows


def marked_functions() -> int:
    """How many functions ``requires_scopes`` has marked in this process."""
    return _marked[0]

_KINDS = {"tools": "tools/call", "resources": "resources/read", "prompts": "prompts/get"}


def _resource_patterns(rule: str) -> list[re.Pattern[str]]:
    """A template (``file:///{path}``) or prefix (``file:///logs/*``) as the regexes of the
    URIs it covers; none for an exact URI. Each ``{...}`` matches anything, ``/`` included,
    which covers every URI an RFC 6570 matcher (SDK 2.x) maps to the template. MCP SDK 1.x
    uses the template itself as a regex (its ``.`` matches any character, ``{x}`` is
    ``[^/]+``): that reading is matched too, so no URI an SDK serves from a protected template
    gets past its rule."""
    if "{" not in rule and not rule.endswith("*"):
        return []
    prefix = rule.endswith("*") and not rule.endswith("}*")
    body = rule[:-1] if prefix else rule
    parts = re.split(r"\{[^{}]*\}", body)
    patterns = [re.compile(".*".join(re.escape(part) for part in parts)
                           + (".*" if prefix else ""), re.DOTALL)]
    if not prefix:
        with contextlib.suppress(re.error):  # then the SDK cannot serve it either
            patterns.append(re.compile(rule.replace("{", "(?P<").replace("}", ">[^/]+)")))
    return patterns


def _normalized_uri(uri: str) -> str | None:
    # MCP SDK 1.x reads a URI through pydantic's AnyUrl (scheme and host lowercased, dot
    # segments removed) before it looks it up; a rule must see that spelling too.
    try:
        from pydantic import AnyUrl
        normalized = str(AnyUrl(uri))
    except Exception:  # noqa: BLE001 - not a URL pydantic reads: the SDK cannot serve it either
        return None
    return normalized if normalized != uri else None


class OperationRules:
    """The scopes each operation needs, beyond the route's.

    :param tools: tool name -> scopes.
    :param resources: exact URI, URI template or ``prefix*`` -> scopes.
    :param prompts: prompt name -> scopes.
    """

    __slots__ = ("_exact", "_patterns", "methods")

    def __init__(self, tools: Mapping[str, Iterable[str]] | None = None,
                 resources: Mapping[str, Iterable[str]] | None = None,
                 prompts: Mapping[str, Iterable[str]] | None = None) -> None:
        self._exact: dict[tuple[str, str], tuple[str, ...]] = {}
        self._patterns: list[tuple[re.Pattern[str], tuple[str, ...]]] = []
        self.methods: frozenset[str] = frozenset()  # those with a rule
        for kind, rules in (("tools", tools), ("resources", resources), ("prompts", prompts)):
            for name, scopes in (rules or {}).items():
                self.add(_KINDS[kind], name, scopes)

    @classmethod
    def from_config(cls, config: Mapping[str, Mapping[str, Iterable[str]]] | None
                    ) -> OperationRules:
        """``{"tools": {...}, "resources": {...}, "prompts": {...}}`` (``operation_scopes``)."""
        config = dict(config or {})
        unknown = sorted(set(config) - set(_KINDS))
        if unknown:
            raise MCPAuthConfigException(
                "invalid_option", f"operation_scopes has unknown kind(s): {', '.join(unknown)} "
                "(expected tools, resources, prompts).")
        return cls(**config)

    def add(self, method: str, name: str, scopes: Iterable[str]) -> None:
        if not isinstance(name, str) or not name:
            raise MCPAuthConfigException("invalid_option", f"{method}: {name!r} is not a name.")
        needed = scope_tokens(scopes, f"scopes of {method} {name!r}")
        patterns = _resource_patterns(name) if method == "resources/read" else []
        if patterns:
            self._patterns.extend((pattern, needed) for pattern in patterns)
        else:
            key = (method, name)
            self._exact[key] = tuple(dict.fromkeys(self._exact.get(key, ()) + needed))
        self.methods = self.methods | {method}

    def __bool__(self) -> bool:
        return bool(self._exact or self._patterns)

    def scopes_for(self, operations: Sequence[Operation]) -> tuple[str, ...]:
        """Every scope the operations need (a batch needs what all its elements need)."""
        if len(operations) == 1:  # the common case: one message, a tool or a prompt
            method, name = operations[0]
            if method != "resources/read":
                return self._exact.get((method, name), ()) if name is not None else ()
        needed: dict[str, None] = {}
        for method, name in operations:
            if name is None or method not in self.methods:
                continue
            needed.update(dict.fromkeys(self._exact.get((method, name), ())))
            if method == "resources/read":
                normalized = _normalized_uri(name)
                for uri in (name, normalized):
                    if uri is None:
                        continue
                    needed.update(dict.fromkeys(self._exact.get((method, uri), ())))
                    for pattern, scopes in self._patterns:
                        if pattern.fullmatch(uri):
                            needed.update(dict.fromkeys(scopes))
        return tuple(needed)


def _scopes_marked_on(fn: Any) -> tuple[str, ...] | None:
    while fn is not None:
        scopes: tuple[str, ...] | None = getattr(fn, MARK, None)
        if scopes is not None:
            return scopes
        fn = getattr(fn, "__wrapped__", None)
    return None


def rules_of_server(server: Any, rules: OperationRules) -> None:
    """Add the rules of ``server``'s tools, resources and prompts marked by
    ``requires_scopes`` (an MCP SDK ``MCPServer`` (2.x) or ``FastMCP`` (1.x))."""
    try:
        registered = [
            ("tools/call", server._tool_manager.list_tools(), "name"),
            ("resources/read", server._resource_manager.list_resources(), "uri"),
            ("resources/read", server._resource_manager.list_templates(), "uri_template"),
            ("prompts/get", server._prompt_manager.list_prompts(), "name"),
        ]
    except AttributeError:
        raise MCPAuthConfigException(
            "invalid_option", "mcp_server must be an MCP SDK MCPServer or FastMCP.") from None
    for method, operations, name in registered:
        for operation in operations:
            scopes = _scopes_marked_on(getattr(operation, "fn", None))
            if scopes is not None:
                rules.add(method, str(getattr(operation, name)), scopes)


def requires_scopes(scopes: Iterable[str], hierarchy: ScopeHierarchy,
                    current: Callable[[], AuthInfo | None]) -> Callable[[F], F]:
    """The decorator behind ``MCPAuth.requires_scopes``; ``current`` gives the request's
    ``AuthInfo``."""
    needed = scope_tokens(scopes, "requires_scopes")

    def check() -> None:
        info = current()
        held = info.scopes if info is not None else ()
        missing = hierarchy.missing(held, needed)
        if missing:
            raise MCPAuthBearerAuthException(
                BearerAuthExceptionCode.MISSING_REQUIRED_SCOPES,
                MCPAuthBearerAuthExceptionDetails(missing_scopes=missing))

    def decorate(fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def checked_async(*args: Any, **kwargs: Any) -> Any:
                check()
                return await fn(*args, **kwargs)
            wrapper: Any = checked_async
        else:
            @functools.wraps(fn)
            def checked(*args: Any, **kwargs: Any) -> Any:
                check()
                return fn(*args, **kwargs)
            wrapper = checked
        setattr(wrapper, MARK, needed)
        _marked[0] += 1
        return wrapper  # type: ignore[no-any-return]

    return decorate
