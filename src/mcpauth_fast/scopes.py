"""Scope values (RFC 6749 section 3.3) and scope hierarchies (a broader scope implies narrower
ones, which the MCP authorization spec says servers MUST account for).

A hierarchy is never applied to a token's scopes: it is inverted once, when the middleware is
made, into the scopes that satisfy each required one (``files:read`` is satisfied by
``files:read``, ``files:write``, ``admin``...). A request then checks "one of these is in the
token" per required scope, which costs what the exact check costs when the token has the scope
itself, and nothing is stored per token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from .exceptions import MCPAuthConfigException

#: RFC 6749 section 3.3: ``scope-token = 1*( %x21 / %x23-5B / %x5D-7E )``.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")

#: Asked for by clients to get a refresh token, never needed by a resource: not named in a
#: challenge or in ``scopes_supported`` (MCP authorization spec, scope selection).
NEVER_CHALLENGED = frozenset({"offline_access"})

#: One required scope: the scope itself first, then every scope that implies it.
Requirement = tuple[str, ...]


def _invalid(message: str) -> MCPAuthConfigException:
    return MCPAuthConfigException("invalid_scope_config", message)


def scope_tokens(scopes: Iterable[str] | str | None, what: str) -> tuple[str, ...]:
    """``scopes`` as a tuple of distinct RFC 6749 scope-tokens, in order.

    :raises MCPAuthConfigException: a value that is not a scope-token (empty, a space, a
        quote, a backslash, a control or non-ASCII character), or a single string where a
        list is expected (``"read write"`` would be one invalid scope).
    """
    if scopes is None:
        return ()
    if isinstance(scopes, str):
        raise _invalid(f"{what} must be a list of scopes, not a string: {scopes!r}.")
    out: list[str] = []
    for scope in scopes:
        if not isinstance(scope, str) or _SCOPE_TOKEN.fullmatch(scope) is None:
            raise _invalid(f"{what}: {scope!r} is not a valid scope (RFC 6749 section 3.3).")
        if scope not in out:
            out.append(scope)
    return tuple(out)


class ScopeHierarchy:
    """Which scopes imply which: declared implications, and optionally a separator rule.

    :param implies: ``{"files:write": ["files:read"], "admin": ["files:write"]}``: holding
        a key grants every scope listed, transitively (``admin`` grants ``files:read``).
    :param separator: with ``":"``, a scope grants every scope it is a prefix of up to a
        separator: ``files`` grants ``files:read`` and ``files:read:own``.
    :raises MCPAuthConfigException: a cycle (``a`` implies ``b`` implies ``a``), an invalid
        scope, or a separator that is not one scope character.
    """

    __slots__ = ("_implied_by", "_requirements", "separator")

    def __init__(
        self, implies: Mapping[str, Iterable[str]] | None = None, *, separator: str | None = None
    ) -> None:
        if separator is not None and (
            not isinstance(separator, str) or len(separator) != 1
            or _SCOPE_TOKEN.fullmatch(separator) is None
        ):
            raise _invalid(f"scope separator {separator!r} is not one scope character.")
        self.separator = separator
        implied_by: dict[str, set[str]] = {}
        for broad, narrower in (implies or {}).items():
            (broad,) = scope_tokens([broad], "scope hierarchy")
            for narrow in scope_tokens(narrower, f"scope hierarchy of {broad!r}"):
                implied_by.setdefault(narrow, set()).add(broad)
        self._implied_by = {scope: frozenset(sorted(b)) for scope, b in implied_by.items()}
        self._requirements: dict[str, Requirement] = {}
        for scope in {*implied_by, *(b for bs in implied_by.values() for b in bs)}:
            if scope in self._implying(scope, include_self=False):
                raise _invalid(f"scope hierarchy has a cycle through {scope!r}.")

    def _parents(self, scope: str) -> Iterable[str]:
        yield from self._implied_by.get(scope, ())
        separator = self.separator
        if separator is not None:
            cut = scope.rfind(separator)
            while cut > 0:
                yield scope[:cut]
                cut = scope.rfind(separator, 0, cut)

    def _implying(self, scope: str, include_self: bool) -> list[str]:
        found: list[str] = [scope] if include_self else []
        seen = {scope} if include_self else set()
        todo = [scope]
        while todo:
            for parent in self._parents(todo.pop()):
                if parent not in seen:
                    seen.add(parent)
                    found.append(parent)
                    todo.append(parent)
        return found

    def requirement(self, scope: str) -> Requirement:
        """``scope`` followed by every scope that grants it."""
        found = self._requirements.get(scope)
        if found is None:
            found = tuple(self._implying(scope, include_self=True))
            if len(self._requirements) < 4096:  # the scopes of rules, and a few more
                self._requirements[scope] = found
        return found

    def grants(self, held: Sequence[str], scope: str) -> bool:
        """Whether scopes ``held`` grant ``scope`` (itself or through the hierarchy)."""
        return not self.missing(held, (scope,))

    def missing(self, held: Sequence[str], needed: Sequence[str]) -> list[str]:
        """The scopes of ``needed`` that scopes ``held`` do not grant."""
        missing = []
        for scope in needed:
            for granting in self.requirement(scope):
                if granting in held:
                    break
            else:
                missing.append(scope)
        return missing


#: The hierarchy of a server that declares none: every scope grants only itself.
FLAT = ScopeHierarchy()


def requirements(scopes: Iterable[str], hierarchy: ScopeHierarchy | None
                 ) -> tuple[Requirement, ...]:
    """The ``check_policy`` form of ``scopes``: one ``Requirement`` per scope."""
    hierarchy = hierarchy or FLAT
    return tuple(hierarchy.requirement(scope) for scope in scopes)


def challenged(scopes: Iterable[str]) -> list[str]:
    """The scopes to name in an ``insufficient_scope`` challenge or ``scopes_supported``."""
    return [scope for scope in scopes if scope not in NEVER_CHALLENGED]
