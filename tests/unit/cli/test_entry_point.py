"""The ``pushdeploy`` entry point: an interrupt while Python imports the rest ends in one line."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENTRY = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["pushdeploy"]
# The console script, with an import hook that sends the signal to the process at the instant
# MODULE is first imported: as a Ctrl-C typed in the first tenth of a second would land.
SCRIPT = """
import importlib, os, signal, sys
class Interrupting:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.{sig})
        return None
sys.meta_path.insert(0, Interrupting())
sys.argv = ["pushdeploy", "-C", {base!r}, "app", "config"]
module, _, function = {entry!r}.partition(":")
sys.exit(getattr(importlib.import_module(module), function)())
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("module", ["pushdeploy.cli.main", "pushdeploy.cli.commands"])
def test_an_interrupt_while_the_command_line_loads_is_one_line_and_status_130(
    tmp_path: Path, sig: str, module: str
) -> None:
    (tmp_path / "deploy.conf").write_text("[app]\nhost = local\npath = /srv/app\nrepo = /r\n")
    code = SCRIPT.format(module=module, sig=sig, base=str(tmp_path), entry=ENTRY)
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    expected = "pushdeploy: error: interrupted\nhint: nothing was contacted yet\n"
    assert (130, expected, "") == (done.returncode, done.stderr, done.stdout)


def test_python_dash_m_takes_the_same_entry_point() -> None:
    function = ENTRY.rpartition(":")[2]
    assert f"sys.exit({function}())" in (ROOT / "pushdeploy" / "__main__.py").read_text()


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupt_after_the_command_ended_leaves_its_exit_status_as_it_was(
    tmp_path: Path, sig: str
) -> None:
    """A Ctrl-C that lands while the interpreter shuts down: the run's own status, no traceback."""
    (tmp_path / "deploy.conf").write_text("[app]\nhost = local\npath = /srv/app\nrepo = /r\n")
    module, _, function = ENTRY.partition(":")
    code = (
        "import importlib, os, signal, sys\n"
        f"sys.argv = ['pushdeploy', '-C', {str(tmp_path)!r}, 'app', 'config']\n"
        f"status = getattr(importlib.import_module({module!r}), {function!r})()\n"
        f"os.kill(os.getpid(), signal.{sig})\n"
        "sys.exit(status)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_the_entry_points_own_interrupted_status_is_the_documented_one() -> None:
    """cli/__init__.py imports nothing up front, so it names 130 itself: held to ExitStatus."""
    import pushdeploy.cli
    from pushdeploy.errors import ExitStatus

    assert pushdeploy.cli.INTERRUPTED == ExitStatus.INTERRUPTED
