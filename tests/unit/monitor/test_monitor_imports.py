"""The monitor runs on servers with nothing but python3: it imports the standard library only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pushdeploy.monitor

MONITOR = Path(pushdeploy.monitor.__file__).parent
ROOT = MONITOR.parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def foreign_imports(path: Path) -> list[str]:
    """Imports that are neither the standard library nor the monitor package itself."""
    return sorted(
        name
        for name in imported_modules(path)
        if name.split(".")[0] not in sys.stdlib_module_names
        and name != "__future__"
        and not name.startswith("pushdeploy.monitor")
    )


def test_every_monitor_module_imports_only_the_standard_library() -> None:
    modules = sorted(MONITOR.glob("*.py"))
    assert len(modules) > 5
    found = {p.name: foreign_imports(p) for p in modules}
    assert {name: bad for name, bad in found.items() if bad} == {}


def test_the_checker_notices_a_foreign_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nimport rich.console\nfrom pushdeploy import config\n")
    assert foreign_imports(sample) == ["pushdeploy", "rich.console"]


def test_monitor_imports_in_an_isolated_interpreter(tmp_path: Path) -> None:
    """-I -S: no site-packages, no user site, no PYTHON* variables; only the package dir on path.

    A copy of just the monitor package (with an empty pushdeploy/__init__.py) proves the monitor
    does not lean on the rest of pushdeploy either.
    """
    package = tmp_path / "pushdeploy"
    (package / "monitor").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for path in MONITOR.glob("*.py"):
        (package / "monitor" / path.name).write_bytes(path.read_bytes())
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import pkgutil, importlib\n"
        "import pushdeploy.monitor as m\n"
        "for info in pkgutil.iter_modules(m.__path__):\n"
        "    if info.name != '__main__': importlib.import_module('pushdeploy.monitor.' + info.name)\n"
        "print('ok', sorted(k for k in sys.modules if k.startswith('pushdeploy')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
    assert "pushdeploy.monitor.supervisor" in result.stdout
