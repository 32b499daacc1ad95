"""The twin linker, run as the server runs it after unpacking: ``python3 -c SOURCE NEW PREVIOUS``.

Each release is unpacked by unpack.py first, as fill_release (artifact.sh) does; then the files
unchanged since the previous release become hard links to their twins there, and nothing else
changes: not the previous release, not the bytes, modes and mtimes of the new one.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from pushdeploy.sources import twins, unpack
from tests.support.archives import MTIME, Member, build, oldest_python, snapshot

SOURCE = Path(twins.__file__).read_text(encoding="utf-8")
UNPACK = Path(unpack.__file__).read_text(encoding="utf-8")

V1 = [
    Member("a.txt", data=b"alpha\n"),
    Member("b.txt", data=b"bravo\n"),
    Member("sub", "dir", mode=0o755),
    Member("sub/c.txt", data=b"charlie\n"),
    Member("tool", data=b"#!/bin/sh\n", mode=0o755),
]
V2 = [m if m.name != "b.txt" else Member("b.txt", data=b"bravo, changed\n") for m in V1]


def run(source: str, *args: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    command = [python, "-c", source, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def release(root: Path, name: str, members: list[Member], previous: Path | None = None) -> str:
    """Unpacks ``members`` into <root>/<name>, then links twins from ``previous`` when given:
    the unpacker's line and the linker's, as one (what fill_release records)."""
    target = root / name
    target.mkdir()
    done = run(UNPACK, "extract", str(build(members, root / f"{name}.tar.gz")), str(target))
    assert (done.returncode, done.stderr) == (0, "")
    said = done.stdout.strip()
    if previous is not None:
        linked = run(SOURCE, str(target), str(previous))
        assert (linked.returncode, linked.stderr) == (0, "")
        said += " " + linked.stdout.strip()
    return said


def test_unchanged_files_are_hard_linked_from_the_previous_release(tmp_path: Path) -> None:
    assert release(tmp_path, "v1", V1) == "files=4 bytes=30"
    assert (
        release(tmp_path, "v2", V2, tmp_path / "v1") == "files=4 bytes=39 linked=3 linked_bytes=24"
    )
    v1, v2 = tmp_path / "v1", tmp_path / "v2"
    shared = {
        p: ((v1 / p).stat().st_ino == (v2 / p).stat().st_ino, (v2 / p).stat().st_nlink)
        for p in ("a.txt", "b.txt", "sub/c.txt", "tool")
    }
    assert shared == {
        "a.txt": (True, 2),
        "b.txt": (False, 1),
        "sub/c.txt": (True, 2),
        "tool": (True, 2),
    }
    assert ((v1 / "b.txt").read_text(), (v2 / "b.txt").read_text()) == (
        "bravo\n",
        "bravo, changed\n",
    )


def test_linking_changes_no_content_mode_or_mtime_of_the_new_release(tmp_path: Path) -> None:
    """Directories included: swapping a file for a link inside one keeps the directory's mtime."""
    release(tmp_path, "v1", V1)
    release(tmp_path, "alone", V2)
    release(tmp_path, "v2", V2, tmp_path / "v1")
    assert snapshot(tmp_path / "v2") == snapshot(tmp_path / "alone")
    assert snapshot(tmp_path / "v2")["sub"] == ("dir", 0o755, "", MTIME)


def test_previous_may_be_the_current_symlink_and_may_be_missing(tmp_path: Path) -> None:
    release(tmp_path, "v1", V1)
    (tmp_path / "current").symlink_to("v1")
    assert release(tmp_path, "v2", V1, tmp_path / "current").endswith(" linked=4 linked_bytes=30")
    assert release(tmp_path, "v3", V1, tmp_path / "absent").endswith(" linked=0 linked_bytes=0")


def test_a_previous_file_with_another_mode_is_not_linked(tmp_path: Path) -> None:
    release(tmp_path, "v1", V1)
    v3 = [m if m.name != "a.txt" else Member("a.txt", data=b"alpha\n", mode=0o600) for m in V1]
    assert release(tmp_path, "v3", v3, tmp_path / "v1").endswith(" linked=3 linked_bytes=24")
    assert (tmp_path / "v3/a.txt").stat().st_nlink == 1


def test_a_symlink_in_the_previous_release_is_never_followed(tmp_path: Path) -> None:
    """Identical bytes behind a symlinked directory or a symlinked file do not count."""
    release(tmp_path, "elsewhere", V1)
    previous = tmp_path / "previous"
    previous.mkdir()
    (previous / "sub").symlink_to(tmp_path / "elsewhere/sub")
    (previous / "a.txt").symlink_to(tmp_path / "elsewhere/a.txt")
    assert release(tmp_path, "v2", V1, previous).endswith(" linked=0 linked_bytes=0")
    assert (tmp_path / "elsewhere/sub/c.txt").stat().st_nlink == 1


def test_a_path_the_archive_holds_twice_counts_with_its_last_bytes(tmp_path: Path) -> None:
    """The later member wins in the new release, and the previous one is left alone."""
    release(tmp_path, "v1", V1)
    twice = [*V1, Member("a.txt", data=b"overwritten\n")]
    release(tmp_path, "v2", twice, tmp_path / "v1")
    assert (tmp_path / "v1/a.txt").read_text() == "alpha\n"
    assert (tmp_path / "v2/a.txt").read_text() == "overwritten\n"


def test_a_hard_link_inside_the_archive_stays_one_file(tmp_path: Path) -> None:
    members = [Member("a", data=b"same"), Member("b", "hardlink", target="a")]
    release(tmp_path, "v1", members)
    release(tmp_path, "v2", members, tmp_path / "v1")
    new = tmp_path / "v2"
    assert (new / "a").stat().st_ino == (new / "b").stat().st_ino
    assert (new / "a").stat().st_ino != (tmp_path / "v1" / "a").stat().st_ino


@pytest.mark.parametrize("args", [[], ["{root}/missing", "{root}"], ["{root}"]])
def test_bad_usage_exits_64_with_one_line(tmp_path: Path, args: list[str]) -> None:
    done = run(SOURCE, *(a.format(root=tmp_path) for a in args))
    assert (done.returncode, done.stderr.count("\n"), done.stdout) == (64, 1, "")


def test_the_module_is_self_contained() -> None:
    """Standard library only, nothing from pushdeploy: it is shipped as source text."""
    tree = ast.parse(SOURCE)
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names} == set()
    assert "pushdeploy" not in SOURCE.replace("pushdeploy-link", "")


@pytest.mark.skipif(oldest_python() is None, reason="no runnable python3.8 on PATH")
def test_the_source_runs_on_python_3_8(tmp_path: Path) -> None:
    release(tmp_path, "v1", V1)
    (tmp_path / "v2").mkdir()
    archive = build(V2, tmp_path / "v2.tar.gz")
    assert run(UNPACK, "extract", str(archive), str(tmp_path / "v2")).returncode == 0
    done = run(SOURCE, str(tmp_path / "v2"), str(tmp_path / "v1"), python=str(oldest_python()))
    assert (done.returncode, done.stdout, done.stderr) == (0, "linked=3 linked_bytes=24\n", "")
