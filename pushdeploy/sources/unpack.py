"""The safe unpacker: it checks every member of a release archive, then extracts it, on the server.

Standard library only, Python >= 3.8, one file: the deploy script runs it on the server as
``python3 -c "$UNPACK_SOURCE" extract ARCHIVE DEST [--format F]``, the client imports it to
``check`` an artifact. Success prints ``files=N bytes=N``, a failure one line on stderr and a
status named below. Nothing is written unless every member passes ``_admit``, ``_fits`` and
``_check_links`` and all fit DEST's disk (``_room``); twins.py then links the unchanged files.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import os
import shutil
import stat
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Callable, Generator
from subprocess import DEVNULL, PIPE, Popen
from typing import IO, TYPE_CHECKING, NamedTuple, NoReturn

if TYPE_CHECKING:
    Links = dict[str, tuple[str, str]]  # a symlink's path in DEST -> (its member name, target)
    Entry = tuple[tarfile.TarInfo, Callable[[], IO[bytes] | None]]  # a zip's too; its data

FORMATS = {".tar.gz": "tar.gz", ".tgz": "tar.gz", ".tar.zst": "tar.zst", ".tzst": "tar.zst"}
FORMATS.update({".zip": "zip", ".tar": "tar"})
USAGE, REFUSED, CORRUPT, MISSING, NO_ROOM, WRITE_FAILED, BUG = 64, 65, 66, 69, 73, 74, 70
MAX_MEMBERS, CHUNK, KEEP_BYTES, KEEP_INODES = 1_000_000, 1 << 20, 16 << 20, 256  # _room
# The most one archive byte unpacks to: 1032 with deflate (zlib), 32768 with zstd (RLE blocks).
RATIO: dict[str | int, int] = {"tar": 1, "tar.gz": 1032, "tar.zst": 1 << 15, 0: 1, 8: 1032}
NAMES = {"file": "regular file", "dir": "directory", "symlink": "symlink", "link": "hard link"}
TYPES = [(tarfile.REGTYPE, stat.S_IFREG, "file"), (tarfile.DIRTYPE, stat.S_IFDIR, "dir")]
TYPES += [(tarfile.SYMTYPE, stat.S_IFLNK, "symlink"), (tarfile.FIFOTYPE, stat.S_IFIFO, "a fifo")]
TYPES += [(tarfile.CHRTYPE, stat.S_IFCHR, "a character device"), (b"E", 0, "an encrypted entry")]
TYPES += [(tarfile.BLKTYPE, stat.S_IFBLK, "a block device"), (tarfile.LNKTYPE, 0, "link")]
KIND_OF_TYPE, TYPE_OF_MODE = {t: k for t, _, k in TYPES}, {m: t for t, m, _ in TYPES if m}
KIND_OF_TYPE.update(dict.fromkeys(tarfile.REGULAR_TYPES, "file"))


class Refused(Exception):
    """A member the unpacker will not write; the message is ``MEMBER: why``."""


class Corrupt(Exception):
    """The archive cannot be read: not an archive, truncated, bad checksums."""


class Missing(Exception):
    """A tool the format needs (zstd) is not installed."""


class Usage(Exception):
    """Bad arguments: an unknown format, a DEST that is not an empty directory."""


class Summary(NamedTuple):
    """What an archive holds (``check``) or what ``extract`` wrote."""

    members: int
    files: int
    bytes: int


def shown(text: str, limit: int = 200) -> str:
    """``text`` safe on one line of a terminal: controls escaped, cut after ``limit`` characters."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text[: limit + 1])
    return text[:limit] + "..." if len(text) > limit else text


def format_of(path: str, fmt: str | None = None) -> str:
    """The archive format: ``fmt`` when given, else from the name (tar.gz, tar.zst, zip, tar)."""
    found = [name for suffix, name in FORMATS.items() if path.lower().endswith(suffix)]
    if fmt in FORMATS.values() or (found and not fmt):
        return str(fmt or found[0])
    why = f"unknown format {shown(fmt)}" if fmt else "cannot tell the format from the name"
    raise Usage(f"{shown(path)}: {why}; give --format tar.gz, tar.zst, zip or tar")


def _entries(path: str, fmt: str) -> Generator[Entry, None, None]:
    """Every member in archive order (a zip's as TarInfo); a tar is streamed, zstd through a pipe."""
    if fmt == "zip":
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if "\\" in member.filename:  # APPNOTE 4.4.17: a zip's names use '/' only
                    raise Refused(f"{shown(member.filename)}: a backslash in a zip member's name")
                info = tarfile.TarInfo(member.filename)
                mode = member.external_attr >> 16 if member.create_system == 3 else 0
                ftype = stat.S_IFMT(mode) or (stat.S_IFDIR if member.is_dir() else stat.S_IFREG)
                ftype = stat.S_IFDIR if ftype == stat.S_IFREG and member.is_dir() else ftype
                info.type = b"E" if member.flag_bits & 1 else TYPE_OF_MODE.get(ftype, b"?")
                info.mode = stat.S_IMODE(mode) or (0o755 if ftype == stat.S_IFDIR else 0o644)
                info.size, info.mtime = member.file_size, time.mktime((*member.date_time, 0, 0, -1))
                held = min(member.compress_size, os.path.getsize(path) - member.header_offset)
                _fits(info, held * RATIO.get(member.compress_type, 1 << 30))  # bzip2, lzma: less
                if info.issym() and member.file_size > 4095:
                    raise Refused(f"{shown(member.filename)}: a symlink target over 4095 bytes")
                info.linkname = os.fsdecode(archive.read(member)) if info.issym() else ""
                yield info, functools.partial(archive.open, member)
        return
    if fmt == "tar.zst" and shutil.which("zstd") is None:
        raise Missing("zstd is not installed on this host: install it, or ship a .tar.gz")
    with contextlib.ExitStack() as stack:  # closes zstd's pipe on the way out: it stops, is reaped
        proc: Popen[bytes] | None = None
        if fmt == "tar.zst":
            command = ["zstd", "-dcq", "--", path]
            proc = stack.enter_context(Popen(command, stdout=PIPE, stderr=DEVNULL))
        source = proc.stdout if proc else stack.enter_context(open(path, "rb"))
        most = os.path.getsize(path) * RATIO[fmt]
        with tarfile.open(fileobj=source, mode="r|gz" if fmt == "tar.gz" else "r|") as tar:
            for info in iter(tar.next, None):
                tar.members = []  # type: ignore[attr-defined]  # streamed: keep no index
                _fits(info, most - info.offset_data)
                info.mtime = min(max(float(info.mtime), 0.0), 2.0**34)
                yield info, functools.partial(tar.extractfile, info)
                end, data = min(tar.offset, info.offset_data + info.size), tar.fileobj
                while data and data.tell() < end:  # tarfile's own skip goes on past the end
                    if not data.read(min(CHUNK, end - data.tell())):
                        raise tarfile.ReadError(f"unexpected end of data in {info.name}")
        while proc and source and source.read(CHUNK):  # the padding, so zstd can finish
            pass
        if proc and proc.wait() != 0:
            raise Corrupt(f"{shown(path)}: zstd could not decompress it")


def _fits(info: tarfile.TarInfo, most: int) -> None:
    """Refuses a member that says it is bigger than its archive can hold (``most`` bytes)."""
    if info.size > most and info.sparse is None:  # a sparse file's holes are not stored
        raise Refused(f"{shown(info.name)}: {info.size:,} bytes, more than the archive can hold")


def _room(dest: str, size: int, paths: int) -> None:
    """ENOSPC unless ``size`` bytes and ``paths`` (a block and an inode each) fit DEST's disk and
    leave free 16 MiB and 256 inodes (``KEEP_*``), or 1/100 of the disk's if more."""
    disk, mib = os.statvfs(dest), lambda n: f"{n / (1 << 20):,.1f} MiB"
    need, free = size + paths * disk.f_frsize, disk.f_bavail * disk.f_frsize
    keep, inodes = max(KEEP_BYTES, disk.f_blocks * disk.f_frsize // 100), disk.f_favail
    keep_inodes = max(KEEP_INODES, disk.f_files // 100)
    if need > free - keep or (disk.f_files and paths > inodes - keep_inodes):  # 0: not counted
        has = f"{mib(free)} and {inodes:,} inodes free, of which {mib(keep)} and {keep_inodes:,}"
        has = has if disk.f_files else f"{mib(free)} free, of which {mib(keep)}"
        why = f"the release needs {mib(need)} and {paths:,} inodes; its disk has {has} stay free"
        raise OSError(errno.ENOSPC, why, dest)


def _key(name: str, what: str) -> str:
    """``name`` as a normal path relative to DEST ("" for DEST itself); ValueError if it leaves."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise ValueError(f"{what} is absolute or has a '..' component")
    if len(os.fsencode(name)) > 4095 or any(len(os.fsencode(p)) > 255 for p in parts):
        raise ValueError(f"{what} is too long for the filesystem")
    return "/".join(parts)


def _admit(info: tarfile.TarInfo, kinds: dict[str, str], links: Links, dest: str) -> str:
    """Refuses a member that breaks a rule; records it (and implied directories): its DEST path."""
    name, target, kind = info.name, info.linkname, KIND_OF_TYPE.get(info.type, "an unknown type")
    try:
        key = _key(name, "the path")
        if not name or "\0" in name or not (key or kind == "dir"):
            raise ValueError("an empty name, a NUL byte in it, or a file named like DEST itself")
        if kind not in NAMES:
            raise ValueError(f"{kind}: only regular files, directories and links are unpacked")
        if info.mode & 0o6000:
            raise ValueError(f"a setuid/setgid bit (mode {info.mode & 0o7777:04o})")
        parts = key.split("/")
        for prefix in ("/".join(parts[:i]) for i in range(1, len(parts))):
            if kinds.setdefault(prefix, "dir") != "dir":
                raise ValueError(f"the path passes through the {NAMES[kinds[prefix]]} {prefix}")
        if kinds.get(key, kind) != kind:
            raise ValueError(f"the path is a {NAMES[kind]} here, a {NAMES[kinds[key]]} earlier")
        if kind == "link" and kinds.get(_key(target, "the hard link's target")) != "file":
            raise ValueError(f"a hard link to {target}, not an earlier regular file")
        if kind == "symlink" and (not target or "\0" in target or target.startswith("/")):
            raise ValueError(f"a symlink to {target!r}: empty, absolute or with a NUL byte")
        if kind == "symlink" and links.setdefault(key, (name, target)) != (name, target):
            raise ValueError("the same symlink twice with different targets")
        kinds[key] = kind
        data_filter = getattr(tarfile, "data_filter", None)  # belt and braces, where it exists
        if key and dest and data_filter is not None:
            data_filter(info, dest)
        return key
    except (ValueError, tarfile.TarError) as why:
        raise Refused(f"{shown(name)}: {shown(str(why))}") from None


def _check_links(links: Links) -> None:
    """Refuses a symlink that loops or leaves DEST, followed through the archive's own symlinks."""
    memo: dict[str, list[str] | None] = {}  # a symlink's path -> where it leads (None: out)

    def follow(key: str, depth: int) -> list[str] | None:  # component by component, as Linux
        if depth > 40:  # the kernel's limit too; a loop ends here
            raise RecursionError
        path: list[str] | None = key.split("/")[:-1]
        for part in links[key][1].split("/") if key not in memo else ():
            if path is None or (part == ".." and not path):
                path = None
            elif part == "..":
                path = path[:-1]
            elif part not in ("", "."):
                path = [*path, part]
                path = follow("/".join(path), depth + 1) if "/".join(path) in links else path
        return memo.setdefault(key, path)

    for key, (name, target) in links.items():
        try:
            if follow(key, 0) is None:
                raise Refused(f"{shown(name)}: the symlink target {shown(target)} leaves DEST")
        except RecursionError:
            raise Refused(f"{shown(name)}: symlinks that loop or nest over 40 deep") from None


def check(path: str, fmt: str | None = None) -> Summary:
    """Checks every member against the rules and writes nothing: raises Refused or Corrupt."""
    return _unpack(path, format_of(path, fmt), None)


def extract(path: str, dest: str, fmt: str | None = None) -> Summary:
    """Checks every member, then, only if all pass, writes them into the empty directory DEST."""
    if not os.path.isdir(dest) or os.listdir(dest):
        raise Usage(f"{shown(dest)}: not an existing, empty directory")
    return _unpack(path, format_of(path, fmt), os.path.realpath(dest))


def _unpack(path: str, fmt: str, dest: str | None) -> Summary:
    """Pass one checks; given DEST, pass two writes. Read errors become Corrupt."""
    kinds: dict[str, str] = {}
    links: Links = {}
    members = files = size = 0
    try:
        with contextlib.closing(_entries(path, fmt)) as entries:
            for info, _ in entries:
                if members >= MAX_MEMBERS:
                    raise Refused(f"{shown(info.name)}: more than {MAX_MEMBERS:,} members")
                file = kinds[_admit(info, kinds, links, dest or "/nonexistent")] == "file"
                members, files, size = members + 1, files + file, size + info.size * file
        _check_links(links)
        if dest is None:
            return Summary(members, files, size)
        _room(os.path.dirname(dest), size, len(kinds))
        with contextlib.closing(_entries(path, fmt)) as entries:
            _write(entries, dest, kinds, links)
        return Summary(members, files, size)
    except (tarfile.TarError, zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error,
            ValueError, RuntimeError, OSError) as error:  # fmt: skip
        if isinstance(error, OSError) and error.errno is not None and error.filename != path:
            raise  # a write failed, not a read
        why = getattr(error, "strerror", None) or str(error)
        raise Corrupt(f"{shown(path)}: {shown(why)}") from None


def _write(entries: Generator[Entry, None, None], dest: str,
           kinds: dict[str, str], links: Links) -> None:  # fmt: skip
    """Pass two writes each member (checked again) under DEST."""
    kinds_now: dict[str, str] = {}
    links_now: Links = {}
    dirs: list[tuple[str, int, float]] = []
    for info, data in entries:
        key = _admit(info, kinds_now, links_now, "")
        kind = kinds_now.get(key, "dir")
        if kinds.get(key, "dir") != kind or links.get(key) != links_now.get(key):
            raise Corrupt(f"{shown(info.name)}: the archive changed while it was unpacked")
        target = os.path.join(dest, key)
        if kind == "dir":
            os.makedirs(target, exist_ok=True)
            dirs.append((target, info.mode & 0o777 | 0o700, info.mtime))
            continue
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)  # the same path again: the later member wins, as with tar
        if kind == "symlink":
            os.symlink(info.linkname, target)
            os.utime(target, (info.mtime, info.mtime), follow_symlinks=False)
        elif kind == "link":
            os.link(os.path.join(dest, _key(info.linkname, "")), target, follow_symlinks=False)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            with os.fdopen(os.open(target, flags, 0o600), "wb") as out, data() as source:  # type: ignore[union-attr]
                shutil.copyfileobj(source, out, CHUNK)  # streamed: never a whole member in memory
                out.flush()
                os.fchmod(out.fileno(), info.mode & 0o777)
                os.utime(out.fileno(), (info.mtime, info.mtime))
    for directory, mode, mtime in reversed(dirs):  # last: writing into them moved their mtimes
        os.chmod(directory, mode)
        os.utime(directory, (mtime, mtime))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line and 64, not argparse's usage and 2
        raise Usage(f"usage: {message}")


def main(argv: list[str]) -> int:
    """The command line: returns the exit status after one line on stdout or stderr."""
    parser = _Parser(prog="unpack", description="Check or safely extract a release archive.")
    parser.add_argument("command", choices=["check", "extract"])
    parser.add_argument("archive")
    parser.add_argument("dest", nargs="?", help="extract: an existing, empty directory")
    parser.add_argument("--format", choices=sorted(set(FORMATS.values())))
    statuses = {Usage: USAGE, Refused: REFUSED, Corrupt: CORRUPT, Missing: MISSING}
    try:
        args = parser.parse_args(argv)
        if (args.command == "extract") != (args.dest is not None):
            parser.error("check ARCHIVE | extract ARCHIVE DEST; [--format F]")
        if args.command == "check":
            summary = check(args.archive, args.format)
        else:
            summary = extract(args.archive, args.dest, args.format)
        print("files={} bytes={}".format(*summary[1:]))
        return 0
    except (Usage, Refused, Corrupt, Missing) as error:
        status, line = statuses[type(error)], str(error)
    except OSError as error:  # the disk is full, or would be (_room): NO_ROOM
        status = NO_ROOM if error.errno in (errno.ENOSPC, errno.EDQUOT) else WRITE_FAILED
        line = f"cannot write {error.filename}: {error.strerror}"
    except Exception as error:  # a bug: still one line, never a traceback
        status, line = BUG, f"internal error: {type(error).__name__}: {error}"
    sys.stderr.write(shown(line, 500) + "\n")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
