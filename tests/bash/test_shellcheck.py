"""Every bash library under pushdeploy/ passes shellcheck; each exception says why, in place."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import pushdeploy

PACKAGE = Path(pushdeploy.__file__).parent
CHECKOUT = PACKAGE.parent
LIBRARIES = sorted(PACKAGE.rglob("*.sh"))
DIRECTIVE = re.compile(r"#\s*shellcheck\s+disable=(\S+)(.*)")


def shellcheck() -> str:
    found = shutil.which("shellcheck")
    if found is None:
        reason = "shellcheck not installed (scripts/test installs it)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run it", pytrace=False)
        pytest.skip(reason)
    return found


def test_the_bash_libraries_are_found() -> None:
    names = {str(path.relative_to(PACKAGE)) for path in LIBRARIES}
    assert {"remote/prelude.sh", "sources/git.sh", "sources/artifact.sh"} <= names


@pytest.mark.parametrize("library", LIBRARIES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_each_bash_library_passes_shellcheck(library: Path) -> None:
    """Read as bash (``-s bash``: the libraries have no shebang), every check on."""
    checked = subprocess.run(
        [shellcheck(), "-s", "bash", str(library.relative_to(CHECKOUT))],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=False,
    )
    said = checked.stdout + checked.stderr
    if checked.returncode != 0 or said:  # shellcheck's own words, whole, are the failure
        pytest.fail(f"shellcheck -s bash (status {checked.returncode}):\n{said}", pytrace=False)


@pytest.mark.parametrize("library", LIBRARIES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_each_shellcheck_exception_says_why(library: Path) -> None:
    """``# shellcheck disable=SCnnnn  # why``: a directive without its reason is not allowed."""
    lines = library.read_text(encoding="utf-8").splitlines()
    unexplained = [
        f"{library.name}:{number}: {line.strip()}"
        for number, line in enumerate(lines, 1)
        if (directive := DIRECTIVE.search(line)) and not directive[2].strip().startswith("# ")
    ]
    assert unexplained == []
