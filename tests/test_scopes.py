"""Scope values (RFC 6749 section 3.3) and scope hierarchies, as configured and as checked."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from mcpauth_fast.exceptions import MCPAuthBearerAuthException, MCPAuthConfigException
from mcpauth_fast.scopes import ScopeHierarchy, challenged, requirements, scope_tokens

FILES = {"files:write": ["files:read"], "admin": ["files:write", "users:read"]}


def test_implications_are_transitive() -> None:
    hierarchy = ScopeHierarchy(FILES)
    assert hierarchy.requirement("files:read") == ("files:read", "files:write", "admin")
    assert hierarchy.requirement("users:read") == ("users:read", "admin")
    assert hierarchy.requirement("admin") == ("admin",)
    assert hierarchy.requirement("unrelated") == ("unrelated",)
    assert hierarchy.grants(["admin"], "files:read")
    assert hierarchy.grants(["files:write"], "files:read")
    assert not hierarchy.grants(["files:read"], "files:write")  # never upwards
    assert not hierarchy.grants(["users:read"], "files:read")


def test_separator_rule_grants_every_scope_below_a_prefix() -> None:
    hierarchy = ScopeHierarchy(separator=":")
    assert hierarchy.requirement("files:read:own") == ("files:read:own", "files:read", "files")
    assert hierarchy.grants(["files"], "files:read")
    assert not hierarchy.grants(["file"], "files:read")        # a whole segment, not a prefix
    assert not hierarchy.grants(["files:read"], "files")
    assert not hierarchy.grants(["files:"], "files:read")


def test_separator_and_declared_implications_combine() -> None:
    hierarchy = ScopeHierarchy({"admin": ["files"]}, separator=":")
    assert hierarchy.grants(["admin"], "files:read:own")
    assert set(hierarchy.requirement("files:read")) == {"files:read", "files", "admin"}


@pytest.mark.parametrize("implies", [
    {"a": ["a"]},
    {"a": ["b"], "b": ["a"]},
    {"a": ["b"], "b": ["c"], "c": ["a"]},
])
def test_a_cycle_is_a_configuration_error(implies: dict[str, list[str]]) -> None:
    with pytest.raises(MCPAuthConfigException, match="cycle"):
        ScopeHierarchy(implies)


def test_a_cycle_through_the_separator_rule_is_a_configuration_error() -> None:
    with pytest.raises(MCPAuthConfigException, match="cycle"):
        ScopeHierarchy({"files:read": ["files"]}, separator=":")


@pytest.mark.parametrize("implies", [
    {"two words": ["a"]}, {"a": ["b c"]}, {"": ["a"]}, {"a": [""]}, {'q"': ["a"]},
    {"a": "b"},  # a string where a list is expected
])
def test_an_invalid_scope_in_a_hierarchy_is_a_configuration_error(implies: Any) -> None:
    with pytest.raises(MCPAuthConfigException):
        ScopeHierarchy(implies)


@pytest.mark.parametrize("separator", ["", "::", " ", '"', 1])
def test_the_separator_is_one_scope_character(separator: Any) -> None:
    with pytest.raises(MCPAuthConfigException, match="separator"):
        ScopeHierarchy(separator=separator)


@pytest.mark.parametrize("scope", [
    "read", "files:read", "https://api.example.com/read", "a!#$%&'()*+,-./;<=>?@[]^_`{|}~",
])
def test_scope_tokens_accepts_rfc6749_scope_tokens(scope: str) -> None:
    assert scope_tokens([scope, scope], "x") == (scope,)


@pytest.mark.parametrize("scope", ["", "a b", 'a"b', "a\\b", "caf\u00e9", "a\tb", "a\nb", None])
def test_scope_tokens_refuses_anything_else(scope: Any) -> None:
    with pytest.raises(MCPAuthConfigException, match="not a valid scope"):
        scope_tokens(["read", scope], "required_scopes")


def test_offline_access_is_never_challenged() -> None:
    assert challenged(["read", "offline_access", "write"]) == ["read", "write"]


def test_route_requirements_pass_a_hierarchy_grant_on_both_implementations(
        speedups: ModuleType) -> None:
    required = requirements(["files:read"], ScopeHierarchy(FILES))
    speedups.check_policy("i", None, ("admin",), None, None, required)
    with pytest.raises(MCPAuthBearerAuthException) as refused:
        speedups.check_policy("i", None, ("users:read",), None, None, required)
    assert refused.value.cause.missing_scopes == ["files:read"]
    assert requirements(["read"], None) == (("read",),)
