"""Every public name of the installed mcpauth is importable from the same path in mcpauth-fast.

mcpauth-fast is a drop-in for ``mcpauth`` 0.1.1: moving over is renaming ``mcpauth`` to
``mcpauth_fast`` in the imports. So for each public module of the installed peer, this test
reads the module's source with :mod:`ast` (it follows whatever version is installed, nothing
is listed by hand), takes the names the module defines itself or re-exports from within the
package, and checks that the same module path of mcpauth-fast has each of them, compatible:

- Enum: every member, with an equal value;
- pydantic model: every field; none optional there and required here;
- other class: the constructor, every public method and property, the package's base classes;
- function: the signature (see :func:`signature_incompatibilities`);
- dict constant (the ``*_description`` maps): every key, with an equal value;
- anything else (type aliases such as ``Record``): the name exists.

A failure lists every incompatibility of the module at once.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from enum import Enum
from types import ModuleType
from typing import Any

import pydantic
import pytest

PEER = "mcpauth"
OURS = "mcpauth_fast"
PUBLIC_MODULES = (
    "mcpauth",
    "mcpauth.types",
    "mcpauth.exceptions",
    "mcpauth.config",
    "mcpauth.utils",
    "mcpauth.middleware.create_bearer_auth",
)

_P = inspect.Parameter
_POSITIONAL = (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD)
_BY_KEYWORD = (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)
_VARIADIC = (_P.VAR_POSITIONAL, _P.VAR_KEYWORD)
_MISSING = object()


# ---------------------------------------------------------------- finding the public names


def counterpart(module_name: str) -> str:
    """``mcpauth.x.y`` -> ``mcpauth_fast.x.y``."""
    assert module_name == PEER or module_name.startswith(PEER + ".")
    return OURS + module_name[len(PEER):]


def _bound_names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _bound_names(element)]
    return []


def public_names(module: ModuleType) -> list[str]:
    """The names ``module`` defines at top level (def, class, assignment) or re-exports from
    within its package (relative imports), without those starting with ``_``.

    Absolute imports (the stdlib, starlette, pydantic, jwt...) are not the module's API.
    """
    tree = ast.parse(inspect.getsource(module))
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names.extend(name for target in node.targets for name in _bound_names(target))
        elif isinstance(node, ast.AnnAssign):
            names.extend(_bound_names(node.target))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            for alias in node.names:
                if alias.name == "*":
                    source = importlib.import_module(
                        "." * node.level + (node.module or ""), module.__package__)
                    names.extend(public_names(source))
                else:
                    names.append(alias.asname or alias.name)
    return [name for name in dict.fromkeys(names) if not name.startswith("_")]


# ---------------------------------------------------------------- what "compatible" means


def signature_incompatibilities(theirs: inspect.Signature, ours: inspect.Signature) -> list[str]:
    """Why a call that works with ``theirs`` could fail (or mean something else) with ``ours``.

    Compatible means:
    - every parameter of theirs exists in ours, with the same name;
    - their positional(-or-keyword) parameters are at the same positions in ours and still
      positional (and still passable by keyword when theirs is);
    - a keyword-only parameter of theirs can still be passed by keyword;
    - a parameter optional in theirs is optional in ours;
    - ours adds parameters only if they are optional (a default, or ``*args``/``**kwargs``);
    - ``*args`` / ``**kwargs`` in theirs are accepted by ours.
    Annotations and default values are not compared.
    """
    problems: list[str] = []
    our_params = ours.parameters
    their_positional = [p.name for p in theirs.parameters.values() if p.kind in _POSITIONAL]
    our_positional = [p.name for p in our_params.values() if p.kind in _POSITIONAL]
    our_kinds = {p.kind for p in our_params.values()}
    for p in theirs.parameters.values():
        if p.kind in _VARIADIC:
            if p.kind not in our_kinds:
                stars = "*" if p.kind is _P.VAR_POSITIONAL else "**"
                problems.append(f"{stars}{p.name} is not accepted")
            continue
        q = our_params.get(p.name)
        if q is None:
            problems.append(f"parameter {p.name!r} is missing")
            continue
        if p.kind in _POSITIONAL:
            if q.kind not in _POSITIONAL:
                problems.append(f"parameter {p.name!r} is no longer positional")
            elif their_positional.index(p.name) != our_positional.index(q.name):
                problems.append(
                    f"parameter {p.name!r} moved from position "
                    f"{their_positional.index(p.name)} to {our_positional.index(q.name)}")
        if p.kind in _BY_KEYWORD and q.kind not in _BY_KEYWORD:
            problems.append(f"parameter {p.name!r} can no longer be passed by keyword")
        if p.default is not _P.empty and q.default is _P.empty:
            problems.append(f"parameter {p.name!r} is optional in theirs, required in ours")
    for q in our_params.values():
        if q.name not in theirs.parameters and q.kind not in _VARIADIC and q.default is _P.empty:
            problems.append(f"ours adds the required parameter {q.name!r}")
    return problems


def _signature(obj: Any) -> inspect.Signature | str:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError) as error:
        return f"has no signature ({error})"


def _callable_problems(theirs: Any, ours: Any) -> list[str]:
    their_sig, our_sig = _signature(theirs), _signature(ours)
    if isinstance(their_sig, str):
        return []  # nothing to compare against
    if isinstance(our_sig, str):
        return [our_sig]
    return [f"{problem} (theirs {their_sig}, ours {our_sig})"
            for problem in signature_incompatibilities(their_sig, our_sig)]


def _enum_problems(theirs: type[Enum], ours: Any) -> list[str]:
    problems = []
    for name, member in theirs.__members__.items():
        our_member = getattr(ours, name, _MISSING)
        if our_member is _MISSING:
            problems.append(f"member {name} is missing")
            continue
        value = our_member.value if isinstance(our_member, Enum) else our_member
        if value != member.value:
            problems.append(f"member {name} is {value!r}, theirs {member.value!r}")
    return problems


def _model_problems(theirs: type[pydantic.BaseModel], ours: type) -> list[str]:
    """Every field of theirs can be passed to ours by keyword, and ours requires no more."""
    fields = theirs.model_fields
    problems = []
    if issubclass(ours, pydantic.BaseModel):
        required = {name for name, info in ours.model_fields.items() if info.is_required()}
        accepted = set(ours.model_fields)
        by_any_keyword = False
    else:
        signature = _signature(ours)
        if isinstance(signature, str):
            return [f"constructor {signature}"]
        params = signature.parameters.values()
        required = {p.name for p in params if p.kind not in _VARIADIC and p.default is _P.empty}
        accepted = {p.name for p in params if p.kind in _BY_KEYWORD}
        by_any_keyword = any(p.kind is _P.VAR_KEYWORD for p in params)
    for name, info in fields.items():
        if name not in accepted and not by_any_keyword:
            problems.append(f"field {name!r} is missing")
        elif name in required and not info.is_required():
            problems.append(f"field {name!r} is optional in theirs, required in ours")
    for name in sorted(required - set(fields)):
        problems.append(f"ours requires {name!r}, which is not a field of theirs")
    return problems


def _public_members(cls: type) -> dict[str, Any]:
    """The public attributes ``cls`` gets from classes of the peer package (not from object,
    Exception, Protocol...), and ``__call__`` when the package defines it (protocols)."""
    members: dict[str, Any] = {}
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] != PEER:
            continue
        for name, value in vars(klass).items():
            if (not name.startswith("_") or name == "__call__") and name not in members:
                members[name] = value
    return members


def _base_problems(theirs: type, ours: type, our_module: ModuleType) -> list[str]:
    """``except TheirBase`` keeps working: ours subclasses the counterpart of each base."""
    problems = []
    for base in theirs.__mro__[1:]:
        if base.__module__.split(".")[0] != PEER:
            continue
        our_base = getattr(our_module, base.__name__, _MISSING)
        if our_base is _MISSING:
            try:
                our_base = getattr(importlib.import_module(counterpart(base.__module__)),
                                   base.__name__, _MISSING)
            except ImportError:
                pass
        if not isinstance(our_base, type):
            problems.append(f"base class {base.__name__} has no counterpart")
        elif not issubclass(ours, our_base):
            problems.append(f"is not a subclass of {our_base.__module__}.{base.__name__}")
    return problems


def _class_problems(theirs: type, ours: type, our_module: ModuleType) -> list[str]:
    problems = _base_problems(theirs, ours, our_module)
    if not getattr(theirs, "_is_protocol", False):  # a protocol is never constructed
        problems += [f"constructor: {p}" for p in _callable_problems(theirs, ours)]
    for name, value in _public_members(theirs).items():
        our_value = inspect.getattr_static(ours, name, _MISSING)
        if our_value is _MISSING:
            problems.append(f"{name} is missing")
        elif isinstance(value, property):
            if inspect.isroutine(our_value):
                problems.append(f"{name} is a method in ours, a property in theirs")
        elif inspect.isroutine(value) or isinstance(value, (classmethod, staticmethod)):
            problems += [f"{name}: {p}"
                         for p in _callable_problems(getattr(theirs, name), getattr(ours, name))]
    return problems


def _plain_key(key: Any) -> Any:
    return key.value if isinstance(key, Enum) else key


def _dict_problems(theirs: dict[Any, Any], ours: Any) -> list[str]:
    if not isinstance(ours, dict):
        return [f"is a {type(ours).__name__}, not a dict"]
    our_items = {_plain_key(key): value for key, value in ours.items()}
    problems = []
    for key, value in theirs.items():
        plain = _plain_key(key)
        if plain not in our_items:
            problems.append(f"key {plain!r} is missing")
        elif our_items[plain] != value:
            problems.append(f"key {plain!r} maps to {our_items[plain]!r}, theirs {value!r}")
    return problems


def name_problems(theirs: Any, ours: Any, our_module: ModuleType) -> list[str]:
    """Why ``ours`` cannot stand in for ``theirs`` (empty: it can)."""
    if ours is _MISSING:
        return ["missing"]
    if isinstance(theirs, type):
        if not isinstance(ours, type):
            return [f"is a {type(ours).__name__}, theirs a class"]
        if issubclass(theirs, Enum):
            return _enum_problems(theirs, ours)
        if issubclass(theirs, pydantic.BaseModel):
            return _model_problems(theirs, ours)
        return _class_problems(theirs, ours, our_module)
    if isinstance(theirs, dict):
        return _dict_problems(theirs, ours)
    if inspect.isroutine(theirs):
        if not callable(ours):
            return [f"is a {type(ours).__name__}, theirs a function"]
        return _callable_problems(theirs, ours)
    return []  # a type alias or another value: that the name exists is enough


def module_problems(module_name: str) -> list[str]:
    """Every incompatibility of ``counterpart(module_name)`` with the installed peer module."""
    theirs = importlib.import_module(module_name)
    names = public_names(theirs)
    our_name = counterpart(module_name)
    try:
        ours = importlib.import_module(our_name)
    except ImportError as error:
        return [f"{our_name} cannot be imported ({error}); it should provide: "
                + ", ".join(names)]
    return [f"{our_name}.{name}: {problem}"
            for name in names
            for problem in name_problems(getattr(theirs, name), getattr(ours, name, _MISSING),
                                         ours)]


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_of_mcpauth_is_compatible(module_name: str) -> None:
    problems = module_problems(module_name)
    assert not problems, (
        f"{len(problems)} incompatibilities with {module_name}:\n" + "\n".join(problems))


def test_the_walker_finds_the_names_users_import() -> None:
    top_level = set(public_names(importlib.import_module("mcpauth")))
    assert {
        "MCPAuth", "MCPAuthAuthServerException", "AuthServerExceptionCode", "BearerAuthConfig",
        "validate_server_config", "ServerMetadataPaths", "AuthServerConfig", "AuthInfo",
        "VerifyAccessTokenFunction",
    } <= top_level
    assert "create_verify_jwt" in public_names(importlib.import_module("mcpauth.utils"))
    assert {"Record", "AuthInfo", "JwtPayload"} <= set(
        public_names(importlib.import_module("mcpauth.types")))
    assert {"auth_server_exception_description", "MCPAuthException"} <= set(
        public_names(importlib.import_module("mcpauth.exceptions")))
    assert {"create_bearer_auth", "get_bearer_token_from_headers", "BearerAuthConfig"} <= set(
        public_names(importlib.import_module("mcpauth.middleware.create_bearer_auth")))


def test_the_walker_leaves_out_third_party_imports_and_private_names() -> None:
    top_level = public_names(importlib.import_module("mcpauth"))
    middleware = public_names(importlib.import_module("mcpauth.middleware.create_bearer_auth"))
    for name in ("ContextVar", "logging", "Optional", "BaseHTTPMiddleware", "JSONResponse",
                 "Route", "_context_var_name"):
        assert name not in top_level
    for name in ("BaseModel", "Headers", "urlparse", "_handle_error"):
        assert name not in middleware


def _f_base(a: int, b: int = 1, *, c: int = 2) -> None: ...
def _f_same(a: int, b: int = 1, *, c: int = 2) -> None: ...
def _f_extra_optional(a: int, b: int = 1, d: int = 0, *, c: int = 2, e: int = 3) -> None: ...
def _f_extra_required(a: int, b: int = 1, *, c: int = 2, e: int) -> None: ...
def _f_renamed(a: int, bb: int = 1, *, c: int = 2) -> None: ...
def _f_moved(a: int, d: int = 0, b: int = 1, *, c: int = 2) -> None: ...
def _f_required(a: int, b: int, *, c: int = 2) -> None: ...
def _f_keyword_only(a: int, *, b: int = 1, c: int = 2) -> None: ...
def _f_positional_only(a: int, b: int = 1, /, *, c: int = 2) -> None: ...
def _f_var(*args: Any, **kwargs: Any) -> None: ...
def _f_no_var(a: int) -> None: ...


@pytest.mark.parametrize("theirs,ours,compatible", [
    (_f_base, _f_same, True),
    (_f_base, _f_extra_optional, True),
    (_f_base, _f_extra_required, False),
    (_f_base, _f_renamed, False),
    (_f_base, _f_moved, False),
    (_f_base, _f_required, False),
    (_f_base, _f_keyword_only, False),
    (_f_base, _f_positional_only, False),
    (_f_required, _f_base, True),
    (_f_var, _f_no_var, False),
    (_f_var, _f_var, True),
])
def test_the_signature_helper(theirs: Any, ours: Any, compatible: bool) -> None:
    problems = signature_incompatibilities(inspect.signature(theirs), inspect.signature(ours))
    assert (not problems) is compatible, problems
