"""The shape STYLE.md asks for, checked on the source: who may import what, docstrings, sizes.

Edges own their libraries (the transport package: fabric/paramiko/invoke; the console package:
rich); the pure core does no I/O of its own; every module says in one sentence what it is; modules
stay small. The server side (``pushdeploy/monitor/``) has rules of its own and is not walked here.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pushdeploy

PACKAGE = Path(pushdeploy.__file__).resolve().parent
MODULES = {path.stem: path for path in sorted(PACKAGE.glob("*.py"))}
# The transport seam and the console are packages: "transport" is its __init__, the rest
# "transport.ssh", ...
MODULES |= {
    package if path.stem == "__init__" else f"{package}.{path.stem}": path
    for package in ("transport", "console")
    for path in sorted((PACKAGE / package).glob("*.py"))
}
SOURCES = {name: path.read_text(encoding="utf-8") for name, path in MODULES.items()}
TREES = {name: ast.parse(text, str(MODULES[name])) for name, text in SOURCES.items()}

SSH_LIBRARIES = {"fabric", "paramiko", "invoke"}
PURE = ["config", "keys", "hosts", "values", "layout", "history", "release", "protocol", "scripts"]
PURE += ["errors", "lock", "secrets", "streams", "terminal", "report", "rollout", "credentials"]
PURE += ["activation"]
IMPURE_FOR_THE_CORE = {"subprocess", "socket", "pushdeploy.transport", "pushdeploy.console"}
LINE_LIMIT = 330


def imports(name: str) -> set[str]:
    """Every module ``name`` imports, dotted, including ``from pushdeploy import transport``."""
    found: set[str] = set()
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def matching(found: set[str], forbidden: set[str]) -> list[str]:
    return sorted(m for m in found if any(m == f or m.startswith(f + ".") for f in forbidden))


def test_the_walk_finds_the_package() -> None:
    assert {"transport", "console", *PURE} <= set(MODULES)


@pytest.mark.parametrize("name", [n for n in MODULES if not n.startswith("transport.")])
def test_only_transport_imports_fabric_paramiko_or_invoke(name: str) -> None:
    assert matching(imports(name), SSH_LIBRARIES) == []


def test_importing_the_transport_seam_loads_no_ssh_library_until_a_host_is_contacted() -> None:
    code = (
        "import sys, pushdeploy.transport, pushdeploy.engine.session, pushdeploy.cli.main; "
        "print(sorted(m for m in ('fabric', 'paramiko') if m in sys.modules))"
    )
    assert run_python(code) == "[]\n"


@pytest.mark.parametrize("name", [n for n in MODULES if n.partition(".")[0] != "console"])
def test_only_console_imports_rich(name: str) -> None:
    assert matching(imports(name), {"rich"}) == []


@pytest.mark.parametrize(
    "name",
    PURE,
)
def test_the_pure_core_imports_no_io_and_no_edges(name: str) -> None:
    assert matching(imports(name), IMPURE_FOR_THE_CORE) == []


def test_importing_the_pure_core_loads_no_edge_module() -> None:
    """Transitively too: a pure module that imported deploy.py would drag in fabric."""
    modules = ", ".join(f"pushdeploy.{name}" for name in PURE)
    code = (
        f"import sys, {modules}; "
        "edges = ('fabric', 'paramiko', 'invoke', 'rich', 'pushdeploy.transport', "
        "'pushdeploy.console'); print(sorted(m for m in edges if m in sys.modules))"
    )
    assert run_python(code) == "[]\n"


def test_import_pushdeploy_stays_cheap() -> None:
    code = (
        "import sys, pushdeploy; "
        "print(any(m in sys.modules for m in ['fabric', 'paramiko', 'rich']))"
    )
    assert run_python(code) == "False\n"


def test_help_and_version_load_no_command_rich_or_ssh_library() -> None:
    """``pushdeploy --help`` stays fast: cli.py imports the commands only in ``dispatch``."""
    code = (
        "import io, sys, pushdeploy.cli.main as cli; "
        "[cli.main([a], stdout=io.StringIO()) for a in ('--help', '--version')]; "
        "heavy = ('rich', 'fabric', 'paramiko', 'invoke', 'pushdeploy.cli.handlers', 'iniconfig'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert run_python(code) == "[]\n"


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout


@pytest.mark.parametrize(
    "name",
    MODULES,
)
def test_every_module_starts_with_a_one_sentence_docstring(name: str) -> None:
    docstring = ast.get_docstring(TREES[name])
    first = docstring.splitlines()[0] if docstring else ""
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", first)
    assert (first.endswith("."), len(sentences)) == (True, 1), repr(first)


def test_the_docstring_comes_first() -> None:
    """Before ``from __future__`` and every import: the first statement of each module."""
    first_statements = {
        name: isinstance(tree.body[0], ast.Expr) and isinstance(tree.body[0].value, ast.Constant)
        for name, tree in TREES.items()
    }
    assert {name: True for name in MODULES} == first_statements


def test_no_module_is_over_the_line_limit() -> None:
    """STYLE.md's 300 lines, with a margin for a module that is about to be split (monitor too)."""
    lengths = {name: len(text.splitlines()) for name, text in SOURCES.items()}
    package = Path(pushdeploy.__file__).parent
    for path in sorted((package / "monitor").glob("*.py")):
        lengths[f"monitor.{path.stem}"] = len(path.read_text().splitlines())
    assert {name: n for name, n in lengths.items() if n > LINE_LIMIT} == {}


def test_no_two_test_files_share_a_name() -> None:
    """pytest imports tests/unit and tests/integration (no __init__.py) by basename: a twin
    stops the whole run at collection."""
    tests = Path(__file__).resolve().parents[1]
    names = [path.name for path in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
