"""The shape STYLE.md asks for, checked on the source: one rule per folder, docstrings, sizes.

The package is a stack of folders, each a concern (README "Architecture"). Every import of a
pushdeploy module points down the stack or stays in its folder, whether it runs at import, inside
a function, or only for type checking; the imports that run form no circle. Each folder has its
rule: config/ and remote/ do no I/O; only transport/ imports Paramiko, Fabric and Invoke; only
console/ imports rich; monitor/ and the programs shipped to servers use the standard library only
and parse as Python 3.8; engine/ never imports cli/; only tests import testing/.
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
# Bottom to top. The package's own __init__ (the version) and errors.py (the one exception tree)
# are the floor every folder stands on; __main__ is the top.
LAYERS = ["monitor", "config", "remote", "transport", "console", "engine", "sources", "testing"]
LAYERS += ["notify", "watch", "cli"]
FLOOR = {"pushdeploy", "pushdeploy.errors"}
SHIPPED = ["sources/unpack.py", "sources/twins.py", "sources/download.py"]  # run on servers


def dotted(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {dotted(path): path for path in sorted(PACKAGE.rglob("*.py"))}
SOURCES = {name: path.read_text(encoding="utf-8") for name, path in MODULES.items()}
TREES = {name: ast.parse(text, str(MODULES[name])) for name, text in SOURCES.items()}
SSH_LIBRARIES = {"fabric", "paramiko", "invoke"}
NO_IO = {"subprocess", "socket", "ssl", "http", "urllib.request", "smtplib", "select", "signal"}
NO_IO |= {"threading", "pty", "termios", "multiprocessing", "concurrent"}
LINE_LIMIT = 330


def folder(name: str) -> str:
    """``pushdeploy.remote.scripts`` -> ``remote``; the package's root modules -> ``""``."""
    parts = name.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and name in PACKAGES) else ""


PACKAGES = {name for name, path in MODULES.items() if path.name == "__init__.py"}


def type_checking_only(tree: ast.Module) -> set[int]:
    """The ids of the nodes inside ``if TYPE_CHECKING:`` blocks."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return guarded


def imports(name: str, *, runtime: bool = False) -> set[str]:
    """Every module ``name`` imports, dotted (``from pushdeploy import x`` gives
    ``pushdeploy.x``); ``runtime``: leave out what only type checkers read."""
    tree, found = TREES[name], set()
    skip = type_checking_only(tree) if runtime else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from package import submodule`` needs the submodule, not what the package says
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found.update(names)
            if not all(n in MODULES for n in names):
                found.add(node.module)
    return found


def own(found: set[str]) -> set[str]:
    """The pushdeploy modules among ``found`` (``pushdeploy.x.name`` -> ``pushdeploy.x``)."""
    return {m if m in MODULES else m.rpartition(".")[0] for m in found} & set(MODULES)


def matching(found: set[str], forbidden: set[str]) -> list[str]:
    return sorted(m for m in found if any(m == f or m.startswith(f + ".") for f in forbidden))


def in_folder(*names: str) -> list[str]:
    return [m for m in MODULES if folder(m) in names]


def test_every_module_lives_in_a_folder_but_the_version_errors_and_main() -> None:
    assert sorted(m for m in MODULES if not folder(m)) == [
        "pushdeploy",
        "pushdeploy.__main__",
        "pushdeploy.errors",
    ]
    assert sorted({folder(m) for m in MODULES} - {""}) == sorted(LAYERS)


@pytest.mark.parametrize("name", [m for m in MODULES if folder(m)])
def test_every_import_points_down_the_layers(name: str) -> None:
    """Annotations and imports inside functions count too: a layer may not even name one above."""
    level = LAYERS.index(folder(name))
    upward = sorted(
        m
        for m in own(imports(name))
        if m not in FLOOR and folder(m) and LAYERS.index(folder(m)) > level
    )
    assert upward == []


def test_the_imports_that_run_form_no_circle() -> None:
    """At import or later inside a function: following them never leads back."""
    graph = {name: own(imports(name, runtime=True)) - {name} for name in MODULES}
    done: set[str] = set()

    def walk(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for nxt in sorted(graph[name]):
            circle = walk(nxt, [*path, name])
            if circle:
                return circle
        done.add(name)
        return None

    assert [c for c in (walk(name, []) for name in sorted(MODULES)) if c] == []


def test_no_two_modules_import_each_other_even_for_annotations() -> None:
    pairs = {
        tuple(sorted((a, b)))
        for a in MODULES
        for b in own(imports(a)) - {a}
        if a in own(imports(b)) and not (b.startswith(a + ".") or a.startswith(b + "."))
    }
    assert sorted(pairs) == []


@pytest.mark.parametrize("name", in_folder("config", "remote"))
def test_config_and_remote_do_no_io(name: str) -> None:
    assert matching(imports(name), NO_IO) == []


@pytest.mark.parametrize("name", [m for m in MODULES if folder(m) != "transport"])
def test_only_transport_imports_fabric_paramiko_or_invoke(name: str) -> None:
    assert matching(imports(name), SSH_LIBRARIES) == []


@pytest.mark.parametrize("name", [m for m in MODULES if folder(m) != "console"])
def test_only_console_imports_rich(name: str) -> None:
    assert matching(imports(name), {"rich"}) == []


@pytest.mark.parametrize("name", in_folder("engine"))
def test_the_engine_never_imports_the_command_line(name: str) -> None:
    assert matching(imports(name), {"pushdeploy.cli"}) == []


@pytest.mark.parametrize("name", [m for m in MODULES if folder(m) != "testing"])
def test_only_tests_import_the_fake_fleet(name: str) -> None:
    assert matching(imports(name), {"pushdeploy.testing"}) == []


SERVER_SIDE = [*in_folder("monitor"), *(dotted(PACKAGE / p) for p in SHIPPED)]


@pytest.mark.parametrize("name", SERVER_SIDE)
def test_what_runs_on_servers_uses_the_standard_library_only(name: str) -> None:
    outside = {
        m.split(".")[0] for m in imports(name) if not m.startswith("pushdeploy.monitor")
    } - set(sys.stdlib_module_names)
    assert sorted(outside) == []


@pytest.mark.parametrize("name", SERVER_SIDE)
def test_what_runs_on_servers_parses_as_python_3_8(name: str) -> None:
    ast.parse(SOURCES[name], str(MODULES[name]), feature_version=(3, 8))


def test_importing_the_transport_seam_loads_no_ssh_library_until_a_host_is_contacted() -> None:
    code = (
        "import sys, pushdeploy.transport, pushdeploy.engine.session, pushdeploy.cli.main; "
        "print(sorted(m for m in ('fabric', 'paramiko') if m in sys.modules))"
    )
    assert run_python(code) == "[]\n"


def test_importing_the_pure_core_loads_no_edge_module() -> None:
    """Transitively too: a pure module that imported the engine would drag in fabric."""
    modules = ", ".join(in_folder("config", "remote"))
    code = (
        f"import sys, {modules}; "
        "edges = ('fabric', 'paramiko', 'invoke', 'rich', 'pushdeploy.transport', "
        "'pushdeploy.console', 'pushdeploy.engine', 'pushdeploy.sources'); "
        "print(sorted(m for m in edges if m in sys.modules))"
    )
    assert run_python(code) == "[]\n"


def test_import_pushdeploy_stays_cheap() -> None:
    code = (
        "import sys, pushdeploy; "
        "print(any(m in sys.modules for m in ['fabric', 'paramiko', 'rich']))"
    )
    assert run_python(code) == "False\n"


def test_help_and_version_load_no_command_rich_or_ssh_library() -> None:
    """``pushdeploy --help`` stays fast: cli/main.py imports the commands only in ``dispatch``."""
    code = (
        "import io, sys, pushdeploy.cli.main as cli; "
        "[cli.main([a], stdout=io.StringIO()) for a in ('--help', '--version')]; "
        "heavy = ('rich', 'fabric', 'paramiko', 'invoke', 'pushdeploy.cli.handlers', "
        "'iniconfig'); print(sorted(m for m in heavy if m in sys.modules))"
    )
    assert run_python(code) == "[]\n"


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout


@pytest.mark.parametrize("name", MODULES)
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
    """STYLE.md's 300 lines, with a margin for a module that is about to be split."""
    lengths = {name: len(text.splitlines()) for name, text in SOURCES.items()}
    assert {name: n for name, n in lengths.items() if n > LINE_LIMIT} == {}


def test_no_two_test_files_share_a_name() -> None:
    """pytest imports tests/unit and tests/integration (no __init__.py) by basename: a twin
    stops the whole run at collection."""
    tests = Path(__file__).resolve().parents[1]
    names = [path.name for path in tests.rglob("test_*.py")]
    assert sorted({n for n in names if names.count(n) > 1}) == []
