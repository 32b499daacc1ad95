"""The safe unpacker, run as the server runs it: ``python3 -c SOURCE extract ARCHIVE DEST``.

A hostile-archive corpus (one row per attack, in every format that can express it) must be
refused with exit 65 and one ``MEMBER: why`` line, leaving DEST empty and the directory beside it
untouched; good archives must come out exactly; unchanged files are hard-linked from the
previous release.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from pushdeploy.sources import unpack
from tests.support.archives import MTIME, Member, build, pack, set_mtimes, snapshot, zip_can_hold

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
) -> subprocess.CompletedProcess[str]:
    """The unpacker's source given to ``python -c``, as the deploy script does on the server."""
    command = [python, "-c", SOURCE, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


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
    assert done.stdout == f"files=5 bytes={len(''.join(files))} linked=0 linked_bytes=0\n"
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
    assert (done.returncode, done.stdout) == (0, f"files=5 bytes={sizes} linked=0 linked_bytes=0\n")


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


# Hard links from the previous release.
V1 = [
    Member("a.txt", data=b"alpha\n"),
    Member("b.txt", data=b"bravo\n"),
    Member("sub", "dir", mode=0o755),
    Member("sub/c.txt", data=b"charlie\n"),
    Member("tool", data=b"#!/bin/sh\n", mode=0o755),
]
V2 = [m if m.name != "b.txt" else Member("b.txt", data=b"bravo, changed\n") for m in V1]


def release(site: Site, name: str, members: list[Member], previous: Path | None = None) -> str:
    """Extracts ``members`` into <root>/<name>; returns the unpacker's stdout line."""
    target = site.root / name
    target.mkdir()
    archive = build(members, site.root / f"{name}.tar.gz")
    extra = ["--previous", str(previous)] if previous else []
    done = run("extract", str(archive), str(target), *extra)
    assert (done.returncode, done.stderr) == (0, "")
    return done.stdout


def test_unchanged_files_are_hard_linked_from_the_previous_release(site: Site) -> None:
    assert release(site, "v1", V1) == "files=4 bytes=30 linked=0 linked_bytes=0\n"
    assert release(site, "v2", V2, previous=site.root / "v1") == (
        "files=4 bytes=39 linked=3 linked_bytes=24\n"
    )
    v1, v2 = site.root / "v1", site.root / "v2"
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


def test_previous_may_be_the_current_symlink_and_may_be_missing(site: Site) -> None:
    release(site, "v1", V1)
    (site.root / "current").symlink_to("v1")
    assert "linked=4 " in release(site, "v2", V1, previous=site.root / "current")
    assert "linked=0 " in release(site, "v3", V1, previous=site.root / "absent")


def test_a_previous_file_with_another_mode_is_not_linked(site: Site) -> None:
    release(site, "v1", V1)
    v3 = [m if m.name != "a.txt" else Member("a.txt", data=b"alpha\n", mode=0o600) for m in V1]
    assert release(site, "v3", v3, previous=site.root / "v1") == (
        "files=4 bytes=30 linked=3 linked_bytes=24\n"
    )
    assert (site.root / "v3/a.txt").stat().st_nlink == 1


def test_a_symlink_in_the_previous_release_is_never_followed(site: Site) -> None:
    """Identical bytes behind a symlinked directory or a symlinked file do not count."""
    release(site, "elsewhere", V1)
    previous = site.root / "previous"
    previous.mkdir()
    (previous / "sub").symlink_to(site.root / "elsewhere/sub")
    (previous / "a.txt").symlink_to(site.root / "elsewhere/a.txt")
    assert "linked=0 " in release(site, "v2", V1, previous=previous)
    assert (site.root / "elsewhere/sub/c.txt").stat().st_nlink == 1


def test_a_file_linked_from_previous_then_overwritten_leaves_previous_alone(site: Site) -> None:
    """The same path twice: the second copy replaces the link, never writes through it."""
    release(site, "v1", V1)
    twice = [*V1, Member("a.txt", data=b"overwritten\n")]
    release(site, "v2", twice, previous=site.root / "v1")
    assert (site.root / "v1/a.txt").read_text() == "alpha\n"
    assert (site.root / "v2/a.txt").read_text() == "overwritten\n"


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


def oldest_python() -> str | None:
    """python3.8 from PATH when it runs (the oldest server python supported), else None."""
    found = shutil.which("python3.8")
    if found is None:
        return None
    probe = subprocess.run([found, "-c", "pass"], capture_output=True, timeout=30)
    return found if probe.returncode == 0 else None


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
