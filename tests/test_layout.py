"""The package's layout: no import cycles, and the request path never loads ``mcpauth_fast.dev``.

Imports are read from the source with ``ast``: top-level ones and those inside functions (they
run too, only later), but not those under ``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mcpauth_fast

PACKAGE = "mcpauth_fast"
SOURCE = Path(mcpauth_fast.__file__).parent
DEV = f"{PACKAGE}.dev"
#: What may import the dev package from outside it: ``python -m mcpauth_fast`` runs the CLI.
DEV_ENTRY_POINTS = {f"{PACKAGE}.__main__"}



def module_files(root: Path = SOURCE) -> dict[str, Path]:
    """Every ``.py`` module of the package under ``root``, by dotted name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join([PACKAGE, *parts])] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for orelse in child.orelse:
                yield from _runtime_imports(orelse)
            continue
        yield from _runtime_imports(child)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that module ``name`` (file ``path``) imports when it runs."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # ``from X import y`` imports X, and X.y when y is a module.
            targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        found.update(target for target in targets if target in modules)
    found.discard(name)
    return found


def import_graph(root: Path = SOURCE) -> dict[str, set[str]]:
    modules = module_files(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected component of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan; the package is small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def test_the_graph_sees_function_level_imports_and_skips_type_checking_ones() -> None:
    graph = import_graph()
    # cli.py imports the bench module inside a function, after its top-level imports.
    assert f"{DEV}.bench" in graph[f"{DEV}.cli"]
    assert f"{PACKAGE}.dev.cli" in graph[f"{PACKAGE}.__main__"]
    # verifier.py names _speedups under TYPE_CHECKING only (and _speedups is not a .py file).
    assert all(not target.endswith("_speedups") for target in graph[f"{PACKAGE}.verifier"])


def test_find_cycles_reports_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert find_cycles(import_graph()) == []


def test_only_the_entry_point_imports_the_dev_package() -> None:
    graph = import_graph()
    importers = {
        name for name, targets in graph.items()
        if not (name == DEV or name.startswith(f"{DEV}."))
        and any(target == DEV or target.startswith(f"{DEV}.") for target in targets)
    }
    assert importers <= DEV_ENTRY_POINTS


def test_the_request_path_does_not_load_the_dev_package() -> None:
    # A fresh interpreter: every module outside mcpauth_fast.dev, then a request through the
    # middleware; none of it may load the developer tooling.
    modules = sorted(
        name for name in module_files()
        if name != DEV and not name.startswith(f"{DEV}.") and name not in DEV_ENTRY_POINTS
    )
    code = f"""
import asyncio, importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
from mcpauth_fast import MCPAuth
from mcpauth_fast.config import AuthorizationServerMetadata, AuthServerConfig, AuthServerType
metadata = AuthorizationServerMetadata(
    issuer="https://issuer.example.com", authorization_endpoint="https://issuer.example.com/a",
    token_endpoint="https://issuer.example.com/t", response_types_supported=["code"],
    code_challenge_methods_supported=["S256"], registration_endpoint="https://issuer.example.com/r",
    jwks_uri="https://issuer.example.com/jwks",
)
auth = MCPAuth(server=AuthServerConfig(metadata=metadata, type=AuthServerType.OAUTH))
middleware = auth.bearer_auth_middleware("jwt", audience="https://api.example.com")
async def app(scope, receive, send):
    raise AssertionError("no token: the app is not reached")
sent = []
async def receive():
    return {{"type": "http.request", "body": b"", "more_body": False}}
async def send(message):
    sent.append(message)
scope = {{"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}}
asyncio.run(middleware(app)(scope, receive, send))
assert sent[0]["status"] == 401, sent
loaded = sorted(m for m in sys.modules if m == {DEV!r} or m.startswith({DEV!r} + "."))
assert not loaded, loaded
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_no_test_module_imports_another_or_conftest() -> None:
    """What the tests share lives in tests/support; a test module imports no other test module
    and no conftest (issue 14, item 7)."""
    tests = Path(__file__).resolve().parent
    own = {path.stem for path in tests.rglob("*.py")} - {"__init__"}
    shared = {path.stem for path in (tests / "support").glob("*.py")}
    found = []
    for path in sorted(tests.rglob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                top = name.split(".")[0]
                if top in own - shared and top != "support":
                    found.append(f"{path.relative_to(tests)} imports {name}")
    assert found == []
