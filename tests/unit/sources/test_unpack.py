"""The safe unpacker, run as the server runs it: ``python3 -c SOURCE extract ARCHIVE DEST``.

A hostile-archive corpus (one row per attack, in every format that can express it) must be
refused with exit 65 and one ``MEMBER: why`` line, leaving DEST empty and the directory beside it
untouched; good archives must come out exactly; an archive that declares more than it can hold
ends within a second; one that would not fit the disk is refused before anything is written.
"""

from __future__ import annotations

import ast
import errno
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from pushdeploy.sources import unpack
from tests.support.archives import (
    MTIME,
    Member,
    build,
    declaring,
    oldest_python,
    pack,
    set_mtimes,
    snapshot,
    zip_can_hold,
)

SOURCE = Path(unpack.__file__).read_text(encoding="utf-8")
HAS_ZSTD = shutil.which("zstd") is not None
NEEDS_ZSTD = pytest.mark.skipif(not HAS_ZSTD, reason="zstd is not installed")
FORMATS = [
    pytest.param("tar.gz"),
    pytest.param("tar.zst", marks=NEEDS_ZSTD),
    pytest.param("zip"),
]


def run(
    *args: str,
    python: str = sys.executable,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """The unpacker's source given to ``python -c``, as the deploy script does on the server."""
    command = [python, "-c", SOURCE, *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env
    )


@dataclass
class Site:
    """A server's releases directory in small: DEST (empty) and a sentinel directory beside it."""

    root: Path
    dest: Path
    sentinel: Path

    def untouched(self) -> bool:
        """Nothing was written into DEST nor beside it."""
        return list(self.dest.iterdir()) == [] and snapshot(self.sentinel) == SENTINEL


SENTINEL = {"secret": ("file", 0o600, "the server's own file", MTIME)}


@pytest.fixture
def site(tmp_path: Path) -> Site:
    dest, sentinel = tmp_path / "release", tmp_path / "sentinel"
    dest.mkdir()
    sentinel.mkdir()
    (sentinel / "secret").write_text("the server's own file")
    (sentinel / "secret").chmod(0o600)
    set_mtimes(sentinel)
    return Site(tmp_path, dest, sentinel)


# One row per attack: the members ("{out}" stands for the sentinel's absolute path; DEST is
# <root>/release, so "../sentinel/..." aims beside it), the member the refusal must name, and a
# pattern of its reason (two where tarfile's data filter, as on Python >= 3.8.17, may speak first).
D, S, H = "dir", "symlink", "hardlink"
NOT_INSIDE = "absolute or has a '..' component"
OUTSIDE = "leaves DEST|outside the destination"
SPECIAL = "only regular files, directories and links are unpacked"
HOSTILE: dict[str, tuple[list[Member], str, str]] = {
    "absolute path": ([Member("{out}/owned")], "{out}/owned", NOT_INSIDE),
    "'..' path": ([Member("../sentinel/owned")], "../sentinel/owned", NOT_INSIDE),
    "'..' inside a path": ([Member("a/../../sentinel/x")], "a/../../sentinel/x", NOT_INSIDE),
    "symlink out, absolute": (
        [Member("l", S, target="{out}")],
        "l",
        "a symlink to '.*': empty, absolute",
    ),
    "symlink out, relative": ([Member("l", S, target="../sentinel")], "l", OUTSIDE),
    "symlink out from deeper down": (
        [Member("a/b", D, mode=0o755), Member("a/b/l", S, target="../../..")],
        "a/b/l",
        OUTSIDE,
    ),
    "symlink chain escape": (
        [
            Member("d", D, mode=0o755),
            Member("d/l", S, target=".."),
            Member("x", S, target="d/l/../.."),
        ],
        "x",
        "the symlink target d/l/../.. leaves DEST",
    ),
    "symlink chain escape, the inner link coming later": (
        [
            Member("x", S, target="d/l/../sentinel"),
            Member("d", D, mode=0o755),
            Member("d/l", S, target=".."),
        ],
        "x",
        "the symlink target d/l/../sentinel leaves DEST",
    ),
    "symlink loop": (
        [Member("a", S, target="b"), Member("b", S, target="a")],
        "a",
        "symlinks that loop",
    ),
    "file through a symlink": (
        [Member("inner", D, mode=0o755), Member("l", S, target="inner"), Member("l/x")],
        "l/x",
        "the path passes through the symlink l",
    ),
    "file through a symlink coming later": (
        [Member("l/x"), Member("l", S, target=".")],
        "l",
        "the path is a symlink here, a directory earlier",
    ),
    "hard link out": (
        [Member("h", H, target="../sentinel/secret")],
        "h",
        f"target is {NOT_INSIDE}",
    ),
    "hard link to an absolute path": (
        [Member("h", H, target="{out}/secret")],
        "h",
        f"target is {NOT_INSIDE}",
    ),
    "hard link to a symlink": (
        [Member("a"), Member("s", S, target="a"), Member("h", H, target="s")],
        "h",
        "a hard link to s, not an earlier regular file",
    ),
    "hard link to a later file": (
        [Member("h", H, target="a"), Member("a")],
        "h",
        "a hard link to a, not an earlier regular file",
    ),
    "character device": ([Member("null", "chr")], "null", f"a character device: {SPECIAL}"),
    "block device": ([Member("disk", "blk")], "disk", f"a block device: {SPECIAL}"),
    "fifo": ([Member("pipe", "fifo")], "pipe", f"a fifo: {SPECIAL}"),
    "setuid file": ([Member("tool", mode=0o4755)], "tool", r"a setuid/setgid bit \(mode 4755\)"),
    "setgid file": ([Member("tool", mode=0o2755)], "tool", r"a setuid/setgid bit \(mode 2755\)"),
    "setgid directory": ([Member("d", D, mode=0o2775)], "d", r"a setuid/setgid bit \(mode 2775\)"),
    "one path, a file then a symlink": (
        [Member("a"), Member("a", S, target="b")],
        "a",
        "the path is a symlink here, a regular file earlier",
    ),
    "one path, a directory then a file": (
        [Member("a", D, mode=0o755), Member("a")],
        "a",
        "the path is a regular file here, a directory earlier",
    ),
    "one path, a file then a file under it": (
        [Member("a"), Member("a/b")],
        "a/b",
        "the path passes through the regular file a",
    ),
    "one symlink, two targets": (
        [Member("l", S, target="a"), Member("l", S, target="b")],
        "l",
        "the same symlink twice with different targets",
    ),
    "a file named like DEST itself": ([Member(".")], ".", "named like DEST itself"),
}


def hostile(case: str, outside: Path) -> tuple[list[Member], str, str]:
    """The row of ``case`` with the sentinel's absolute path put in."""
    members, culprit, why = HOSTILE[case]
    put = [
        replace(
            m,
            name=m.name.replace("{out}", str(outside)),
            target=m.target.replace("{out}", str(outside)),
        )
        for m in members
    ]
    return put, culprit.replace("{out}", str(outside)), why


ROWS = [
    pytest.param(case, fmt, marks=param.marks, id=f"{case} ({fmt})")
    for case in HOSTILE
    for param in FORMATS
    for fmt in param.values
    if fmt != "zip" or zip_can_hold(HOSTILE[case][0])
]


@pytest.mark.parametrize(("case", "fmt"), ROWS)
def test_a_hostile_archive_is_refused_naming_the_member_and_nothing_is_written(
    case: str, fmt: str, site: Site
) -> None:
    members, culprit, why = hostile(case, site.sentinel)
    archive = build(members, site.root / f"hostile.{fmt}")
    done = run("extract", str(archive), str(site.dest))
    lines = done.stderr.splitlines()
    assert (done.returncode, len(lines), done.stdout) == (65, 1, ""), done.stderr
    assert re.match(f"{re.escape(culprit)}: .*({why})", lines[0]), lines[0]
    assert site.untouched()


@pytest.mark.parametrize("case", HOSTILE)
def test_check_through_the_import_api_refuses_the_same_archives(case: str, tmp_path: Path) -> None:
    members, culprit, why = hostile(case, tmp_path / "sentinel")
    archive = build(members, tmp_path / "hostile.tar.gz")
    with pytest.raises(unpack.Refused, match=f"^{re.escape(culprit)}: .*({why})"):
        unpack.check(str(archive))


@pytest.mark.parametrize(
    ("real", "culprit"),
    [("fifo", "./pipe"), ("setuid", "./tool"), ("symlink out", "./l"), ("absolute", None)],
)
@pytest.mark.parametrize("suffix", ["tar.gz", pytest.param("tar.zst", marks=NEEDS_ZSTD)])
def test_gnu_tar_archives_of_real_hostile_files_are_refused(
    real: str, culprit: str | None, suffix: str, site: Site
) -> None:
    """The same attacks made by GNU tar from real files (``-P`` keeps an absolute name)."""
    tree = site.root / "tree"
    tree.mkdir()
    archive = site.root / f"real.{suffix}"
    if real == "fifo":
        os.mkfifo(tree / "pipe")
    elif real == "setuid":
        (tree / "tool").write_text("#!/bin/sh\n")
        (tree / "tool").chmod(0o4755)
    elif real == "symlink out":
        (tree / "l").symlink_to("../sentinel")
    if real == "absolute":
        culprit = str(site.sentinel / "secret")
        compression = "-z" if suffix == "tar.gz" else "--zstd"
        subprocess.run(["tar", "-P", compression, "-cf", str(archive), culprit], check=True)
    else:
        pack(tree, archive)
    done = run("extract", str(archive), str(site.dest))
    assert (done.returncode, len(done.stderr.splitlines())) == (65, 1), done.stderr
    assert done.stderr.startswith(f"{culprit}: ")
    assert site.untouched()


def good_tree(root: Path) -> Path:
    """Files, modes, an empty directory, a read-only one, symlinks that stay inside."""
    tree = root / "tree"
    for directory in ("bin", "conf", "empty", "nested/deep", "locked"):
        (tree / directory).mkdir(parents=True)
    (tree / "app.py").write_text("print('hi')\n")
    (tree / "bin/run").write_text("#!/bin/sh\nexec python3 app.py\n")
    (tree / "bin/run").chmod(0o755)
    (tree / "conf/app.ini").write_text("[app]\nsecret = 1\n")
    (tree / "conf/app.ini").chmod(0o600)
    (tree / "conf").chmod(0o750)
    (tree / "nested/deep/file.txt").write_text("deep\n")
    (tree / "locked/readme").write_text("read only\n")
    (tree / "locked/readme").chmod(0o444)
    (tree / "static").symlink_to("conf")
    (tree / "link.py").symlink_to("app.py")
    (tree / "nested/deep/up").symlink_to("../../app.py")
    set_mtimes(tree)
    (tree / "locked").chmod(0o555)
    return tree


@pytest.mark.parametrize("fmt", [*FORMATS, "tar"])
def test_a_good_archive_comes_out_exactly(fmt: str, site: Site) -> None:
    """Contents, modes, mtimes, empty directories and inner symlinks; a read-only directory gets
    u+rwx so that pruning the release later can delete it."""
    tree = good_tree(site.root)
    archive = pack(tree, site.root / f"good.{fmt}")
    done = run("extract", str(archive), str(site.dest))
    expected = snapshot(tree)
    expected["locked"] = ("dir", 0o755, "", MTIME)
    files = [content for kind, _, content, _ in expected.values() if kind == "file"]
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"files=5 bytes={len(''.join(files))}\n"
    assert len(files) == 5
    assert snapshot(site.dest) == expected
    assert list(site.sentinel.iterdir()) == [site.sentinel / "secret"]


@pytest.mark.parametrize("fmt", [*FORMATS, "tar"])
def test_check_counts_members_files_and_bytes_and_writes_nothing(fmt: str, site: Site) -> None:
    tree = good_tree(site.root)
    archive = pack(tree, site.root / f"good.{fmt}")
    members = len(snapshot(tree)) + (fmt != "zip")  # GNU tar adds "./"
    sizes = sum(len(content) for kind, _, content, _ in snapshot(tree).values() if kind == "file")
    assert unpack.check(str(archive)) == unpack.Summary(members, 5, sizes)
    done = run("check", str(archive))
    assert (done.returncode, done.stdout) == (0, f"files=5 bytes={sizes}\n")


def test_a_hard_link_inside_the_archive_stays_a_hard_link(site: Site) -> None:
    members = [Member("a", data=b"same"), Member("b", "hardlink", target="a")]
    done = run("extract", str(build(members, site.root / "links.tar.gz")), str(site.dest))
    assert done.returncode == 0, done.stderr
    assert (site.dest / "a").stat().st_ino == (site.dest / "b").stat().st_ino


def test_the_later_of_two_members_at_one_path_wins(site: Site) -> None:
    members = [Member("a", data=b"first"), Member("a", data=b"second", mode=0o600)]
    done = run("extract", str(build(members, site.root / "twice.zip")), str(site.dest))
    assert done.returncode == 0, done.stderr
    assert snapshot(site.dest) == {"a": ("file", 0o600, "second", MTIME)}


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("truncated.tar.gz", None),
        ("garbage.zip", b"PK\x03\x04 not a zip"),
        ("empty.tar", b""),
        pytest.param("garbage.tar.zst", b"not zstd", marks=NEEDS_ZSTD),
    ],
)
def test_a_corrupt_archive_exits_66_with_one_line(
    name: str, content: bytes | None, site: Site
) -> None:
    archive = site.root / name
    if content is None:
        build([Member("a", data=os.urandom(50_000))], archive)
        archive.write_bytes(archive.read_bytes()[:20_000])
    else:
        archive.write_bytes(content)
    done = run("extract", str(archive), str(site.dest))
    assert (done.returncode, len(done.stderr.splitlines())) == (66, 1), done.stderr
    assert done.stderr.startswith(f"{archive}: ")
    assert site.untouched()
    with pytest.raises(unpack.Corrupt):
        unpack.check(str(archive))


def test_a_missing_archive_exits_66(site: Site) -> None:
    done = run("check", str(site.root / "absent.tar.gz"))
    assert (done.returncode, done.stderr.count("\n")) == (66, 1)


@NEEDS_ZSTD
def test_tar_zst_without_zstd_installed_exits_69(site: Site) -> None:
    archive = build([Member("a", data=b"x")], site.root / "app.tar.zst")
    bare = site.root / "bin"  # a PATH with no zstd on it; python is named by its full path
    bare.mkdir()
    done = run("extract", str(archive), str(site.dest), env={**os.environ, "PATH": str(bare)})
    assert (done.returncode, done.stderr.count("\n"), "zstd" in done.stderr) == (69, 1, True)
    assert site.untouched()


@pytest.mark.parametrize(
    "args",
    [
        ["extract", "app.rar", "{dest}"],
        ["extract", "app.tar.gz", "{dest}", "--format", "rar"],
        ["extract", "app.tar.gz"],
        ["check", "app.tar.gz", "{dest}"],
        ["unzip", "app.tar.gz"],
        ["extract", "app.tar.gz", "{root}/missing"],
        ["extract", "app.tar.gz", "{root}"],  # not empty
        [],
    ],
)
def test_bad_usage_exits_64_with_one_line(args: list[str], site: Site) -> None:
    build([Member("a", data=b"x")], site.root / "app.tar.gz")
    filled = [a.format(dest=site.dest, root=site.root) for a in args]
    done = run(*filled, cwd=site.root)
    assert (done.returncode, done.stderr.count("\n"), done.stdout) == (64, 1, "")


def test_format_overrides_the_name(site: Site) -> None:
    archive = build([Member("a", data=b"x")], site.root / "app.zip").rename(site.root / "app.bin")
    done = run("extract", str(archive), str(site.dest), "--format", "zip")
    assert (done.returncode, (site.dest / "a").read_bytes()) == (0, b"x")


def test_a_refused_name_is_shown_escaped_and_cut(site: Site) -> None:
    name = "\x1b[31mred\r\n" + "a" * 500
    archive = build([Member(name, data=b"x", mode=0o4755)], site.root / "names.tar.gz")
    done = run("extract", str(archive), str(site.dest))
    line = done.stderr.rstrip("\n")
    assert (done.returncode, "\n" in line, "\x1b" in line, "\r" in line) == (
        65,
        False,
        False,
        False,
    )
    assert line.startswith("\\x1b[31mred\\r\\n") and len(line) < 300


def test_more_than_the_member_limit_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(unpack, "MAX_MEMBERS", 3)
    archive = build([Member(f"f{i}", data=b"x") for i in range(4)], tmp_path / "many.tar.gz")
    with pytest.raises(unpack.Refused, match=r"^f3: more than 3 members$"):
        unpack.check(str(archive))


# Sizes an archive cannot hold (a member that says more than the archive could unpack to, or
# one cut short): refused or found corrupt at once, in both passes, nothing written.
DEADLINE = 5.0  # seconds; "at once" is well under one, with room for a busy machine


@pytest.mark.parametrize("fmt", [*FORMATS, "tar"])
def test_a_member_declaring_more_than_the_archive_can_hold_is_refused_at_once(
    fmt: str, site: Site
) -> None:
    """The 96-byte archive whose one header says 1 TiB: the client's check and the server's
    extract each refuse it within seconds (tarfile's own skip of its data went on for minutes)."""
    archive = declaring(site.root / f"huge.{fmt}", 1 << 40)
    start = time.monotonic()
    for args in (["check", str(archive)], ["extract", str(archive), str(site.dest)]):
        done = run(*args, timeout=DEADLINE)
        assert (done.returncode, done.stdout) == (65, ""), done.stderr
        assert re.fullmatch(r"huge: [\d,]+ bytes, more than the archive can hold\n", done.stderr)
    assert time.monotonic() - start < DEADLINE
    assert archive.stat().st_size <= 512 and site.untouched()


@NEEDS_ZSTD
def test_a_member_cut_short_is_corrupt_at_once_whatever_size_it_claims(site: Site) -> None:
    """4 MiB of data, then the end, where the header said 100 GiB (a .tar.zst could hold that)."""
    archive = declaring(site.root / "cut.tar.zst", 100 << 30, os.urandom(4 << 20))
    start = time.monotonic()
    done = run("extract", str(archive), str(site.dest), timeout=DEADLINE)
    assert time.monotonic() - start < DEADLINE
    assert (done.returncode, done.stderr) == (66, f"{archive}: unexpected end of data in huge\n")
    assert site.untouched()


def test_a_sparse_file_takes_its_size_from_its_data_and_holes(site: Site) -> None:
    """GNU tar -S stores a sparse file's data only: its size is not more than the archive holds
    (the holes come out as zeros)."""
    tree = site.root / "tree"
    tree.mkdir()
    with (tree / "holes.img").open("wb") as image:
        image.truncate(8 << 20)
    archive = site.root / "sparse.tar.gz"
    subprocess.run(
        ["tar", "-S", "-C", str(tree), "-czf", str(archive), "."], check=True, timeout=60
    )
    assert archive.stat().st_size < 1000
    done = run("extract", str(archive), str(site.dest))
    assert (done.returncode, done.stderr) == (0, "")
    assert (site.dest / "holes.img").read_bytes() == bytes(8 << 20)


@pytest.mark.parametrize("name", ["..\\..\\outside.txt", "dir\\app.py", "C:\\app.py"])
def test_a_zip_member_named_with_a_backslash_is_refused(name: str, site: Site) -> None:
    """A zip's names use '/' only (APPNOTE 4.4.17); Windows tools read a backslash as one."""
    archive = build([Member("ok.txt"), Member(name, data=b"x")], site.root / "slashes.zip")
    done = run("extract", str(archive), str(site.dest))
    assert (done.returncode, done.stderr) == (65, f"{name}: a backslash in a zip member's name\n")
    assert site.untouched()
    with pytest.raises(unpack.Refused):
        unpack.check(str(archive))


def test_a_tar_member_may_have_a_backslash_in_its_name(site: Site) -> None:
    """In a tar it is an ordinary character of the name, as POSIX has it."""
    archive = build([Member("a\\b.txt", data=b"x")], site.root / "slashes.tar.gz")
    assert run("extract", str(archive), str(site.dest)).returncode == 0
    assert [p.name for p in site.dest.iterdir()] == ["a\\b.txt"]


# The disk DEST is on: what a release needs (its bytes, a block and an inode per path) must fit
# in what the disk has free, less what it keeps free: 16 MiB and 256 inodes, or 1/100 if more.
MIB, BLOCK = 1 << 20, 4096
NEED = MIB + BLOCK  # the archive below: one 1 MiB file
GIB_DISK = (1 << 30) // BLOCK  # blocks of a 1 GiB disk; it keeps 16 MiB (more than 1/100)
ROOM = {
    "fits, leaving 16 MiB and 1,000 inodes": (GIB_DISK, 16 * MIB + NEED, 100_000, 1_001, 0),
    "a block short": (GIB_DISK, 16 * MIB + NEED - BLOCK, 100_000, 1_001, 73),
    "an inode short": (GIB_DISK, 16 * MIB + NEED, 100_000, 1_000, 73),
    "256 inodes kept on a small disk": (GIB_DISK, 16 * MIB + NEED, 2_500, 256, 73),
    "1/100 kept on a 100 GiB disk": (100 * GIB_DISK, 1024 * MIB + NEED - BLOCK, 10**7, 10**6, 73),
    "inodes not counted (reported as 0)": (GIB_DISK, 16 * MIB + NEED, 0, 0, 0),
}


@pytest.mark.parametrize(("blocks", "free", "files", "favail", "status"), ROOM.values(), ids=ROOM)
def test_a_release_that_would_not_leave_the_margin_free_is_refused_before_writing(
    blocks: int,
    free: int,
    files: int,
    favail: int,
    status: int,
    site: Site,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = build([Member("big.bin", data=bytes(MIB))], site.root / "big.tar.gz")
    said = (BLOCK, BLOCK, blocks, free // BLOCK, free // BLOCK, files, favail, favail, 0, 255)
    asked = []
    monkeypatch.setattr(os, "statvfs", lambda path: asked.append(path) or os.statvfs_result(said))
    assert unpack.main(["extract", str(archive), str(site.dest)]) == status
    assert asked == [str(site.root)]  # the directory of releases DEST is in
    if status:
        line = capsys.readouterr().err
        assert line.startswith(f"cannot write {site.root}: the release needs 1.0 MiB and 1 inodes;")
        assert site.untouched()
    else:
        assert (site.dest / "big.bin").stat().st_size == MIB


def test_a_disk_full_or_a_quota_met_while_writing_exits_73(
    site: Site, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = build([Member("a.txt", data=b"x")], site.root / "a.tar.gz")

    def over_quota(path: str, *args: int) -> int:
        raise OSError(errno.EDQUOT, "Disk quota exceeded", path)

    monkeypatch.setattr(os, "open", over_quota)
    assert unpack.main(["extract", str(archive), str(site.dest)]) == 73
    assert capsys.readouterr().err.endswith("a.txt: Disk quota exceeded\n")


MEASURE = """\
import resource, sys
namespace = {"__name__": "unpack"}
exec(compile(sys.stdin.read(), "unpack", "exec"), namespace)
status = namespace["main"](sys.argv[1:])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
sys.exit(status)
"""


def peak_memory_kib(archive: Path, dest: Path) -> int:
    command = [sys.executable, "-c", MEASURE, "extract", str(archive), str(dest)]
    done = subprocess.run(command, input=SOURCE, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_a_20_mb_member_is_streamed_not_read_whole(fmt: str, site: Site) -> None:
    """The peak memory of unpacking 20 MB grows by far less than 20 MB over a tiny archive's."""
    big = build([Member("big.bin", data=b"\0" * 20_000_000)], site.root / f"big.{fmt}")
    small = build([Member("small.bin", data=b"\0")], site.root / f"small.{fmt}")
    (site.root / "small").mkdir()
    growth = peak_memory_kib(big, site.dest) - peak_memory_kib(small, site.root / "small")
    assert (site.dest / "big.bin").stat().st_size == 20_000_000
    assert growth < 8_000, f"{growth} KiB more for a 20 MB member"


def test_the_module_is_self_contained() -> None:
    """Standard library only, nothing from pushdeploy: it is shipped as source text."""
    tree = ast.parse(SOURCE)
    modules = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {m for m in modules if m.split(".")[0] not in sys.stdlib_module_names} == set()
    assert "pushdeploy" not in SOURCE.replace("pushdeploy-link", "")


@pytest.mark.skipif(oldest_python() is None, reason="no runnable python3.8 on PATH")
def test_the_source_runs_on_python_3_8(site: Site) -> None:
    """A good archive of each format, and the whole hostile table as tar.gz, under python3.8."""
    python = str(oldest_python())
    tree = good_tree(site.root)
    for fmt in ["tar.gz", "zip", "tar"] + (["tar.zst"] if HAS_ZSTD else []):
        dest = site.root / f"out-{fmt}"
        dest.mkdir()
        done = run("extract", str(pack(tree, site.root / f"good.{fmt}")), str(dest), python=python)
        assert (done.returncode, done.stderr) == (0, "")
    for case in HOSTILE:
        members, culprit, _ = hostile(case, site.sentinel)
        archive = build(members, site.root / "hostile.tar.gz")
        done = run("extract", str(archive), str(site.dest), python=python)
        assert (done.returncode, done.stderr.startswith(f"{culprit}: ")) == (65, True), case
    assert site.untouched()
