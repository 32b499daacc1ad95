"""Archives for the unpacker's tests: members written one by one, trees packed, trees compared.

``build(members, path)`` writes exactly the members given, hostile ones included, with the
tarfile and zipfile APIs; the name decides the format (``.tar``, ``.tar.gz``, ``.tar.zst`` through
the ``zstd`` command, ``.zip``). ``pack(tree, path)`` packs a real directory the way users do:
GNU ``tar`` for the tars (``tar -C tree -cf path .``), zipfile for a zip (modes, symlinks and
mtimes kept, as ``zip -y`` would). ``snapshot(root)`` describes every entry under a directory, so
two trees compare with ``==``. ``declaring(path, size)`` writes an archive whose one member says
it holds more than it does. ``oldest_python()`` finds the oldest python3 the programs that unpack
them on servers support.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import struct
import subprocess
import tarfile
import time
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

MTIME = 1_600_000_000  # an even second: zip keeps two-second steps
TAR_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chr": tarfile.CHRTYPE,
    "blk": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}
ZIP_TYPES = {
    "file": stat.S_IFREG,
    "dir": stat.S_IFDIR,
    "symlink": stat.S_IFLNK,
    "chr": stat.S_IFCHR,
    "blk": stat.S_IFBLK,
    "fifo": stat.S_IFIFO,
}


@dataclass(frozen=True)
class Member:
    """One archive member: ``kind`` is file, dir, symlink, hardlink, chr, blk or fifo."""

    name: str
    kind: str = "file"
    data: bytes = b""
    target: str = ""
    mode: int = 0o644


def zip_can_hold(members: Iterable[Member]) -> bool:
    """A zip has no hard links; everything else in ``Member`` it can express."""
    return all(member.kind in ZIP_TYPES for member in members)


def build(members: Iterable[Member], path: Path) -> Path:
    """Writes ``members`` in order into ``path``, in the format its name says."""
    if path.name.endswith(".zip"):
        path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Duplicate name": some rows mean it
            for member in members:
                entry = zipfile.ZipInfo(member.name, time.localtime(MTIME)[:6])
                entry.create_system = 3
                entry.external_attr = (ZIP_TYPES[member.kind] | member.mode) << 16
                data = member.target.encode() if member.kind == "symlink" else member.data
                zipped.writestr(entry, data)
        return path
    return compress(tar_bytes(members), path)


def tar_bytes(members: Iterable[Member]) -> bytes:
    """A plain tar of ``members``, in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tarred:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type, info.mode, info.mtime = TAR_TYPES[member.kind], member.mode, MTIME
            info.linkname, info.size = member.target, len(member.data)
            info.devmajor, info.devminor = (1, 3) if member.kind in ("chr", "blk") else (0, 0)
            tarred.addfile(info, io.BytesIO(member.data) if member.kind == "file" else None)
    return buffer.getvalue()


def declaring(path: Path, size: int, data: bytes = b"") -> Path:
    """An archive at ``path`` whose one member, ``huge``, says it holds ``size`` bytes and is
    followed by ``data`` only; a zip (no ZIP64 here) says at most 4 GiB - 2 and holds no data."""
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zipped:
            zipped.writestr(zipfile.ZipInfo("huge", time.localtime(MTIME)[:6]), b"")
        raw = bytearray(path.read_bytes())
        said = struct.pack("<I", min(size, 0xFFFFFFFE))
        local, central = raw.find(b"PK\x03\x04"), raw.find(b"PK\x01\x02")
        raw[local + 22 : local + 26] = said  # the uncompressed size, in both headers
        raw[central + 24 : central + 28] = said
        path.write_bytes(bytes(raw))
        return path
    info = tarfile.TarInfo("huge")
    info.size, info.mtime = size, MTIME
    return compress(info.tobuf(format=tarfile.GNU_FORMAT) + data, path)


def app(files: Mapping[str, str]) -> list[Member]:
    """An app's regular files (name -> text), as members."""
    return [Member(name, data=text.encode()) for name, text in files.items()]


def targz(files: Mapping[str, str]) -> bytes:
    """The .tar.gz of an app's files, in memory (what an HTTP server hands out)."""
    return gzip.compress(tar_bytes(app(files)))


def compress(tar: bytes, path: Path) -> Path:
    """A plain tar's bytes written to ``path`` as .tar, .tar.gz (.tgz) or .tar.zst."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".tar.zst"):
        subprocess.run(["zstd", "-q", "-f", "-o", str(path)], input=tar, check=True, timeout=60)
    elif path.name.endswith((".tar.gz", ".tgz")):
        path.write_bytes(gzip.compress(tar))
    else:
        path.write_bytes(tar)
    return path


def pack(tree: Path, path: Path) -> Path:
    """Packs the directory ``tree`` into ``path``: GNU tar for tars, zipfile for a zip."""
    if not path.name.endswith(".zip"):
        compression = {"gz": ["-z"], "zst": ["--zstd"], "tar": []}[path.name.rsplit(".", 1)[1]]
        command = ["tar", "-C", str(tree), *compression, "-cf", str(path), "."]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        return path
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for entry in sorted(tree.rglob("*")):
            facts = entry.lstat()
            name = entry.relative_to(tree).as_posix() + ("/" if entry.is_dir() else "")
            info = zipfile.ZipInfo(name, time.localtime(facts.st_mtime)[:6])
            info.create_system, info.external_attr = 3, facts.st_mode << 16
            link = entry.is_symlink()
            data = os.readlink(entry).encode() if link else b"" if entry.is_dir() else None
            archive.writestr(info, data if data is not None else entry.read_bytes())
    return path


def snapshot(root: Path) -> dict[str, tuple[str, int, str, int]]:
    """Every entry under ``root``: relative path -> (kind, permission bits, content or symlink
    target, mtime)."""
    found = {}
    for entry in sorted(root.rglob("*")):
        facts = entry.lstat()
        if entry.is_symlink():
            kind, content = "symlink", os.readlink(entry)
        elif entry.is_dir():
            kind, content = "dir", ""
        else:
            kind, content = "file", entry.read_bytes().decode("utf-8", "replace")
        mode = stat.S_IMODE(facts.st_mode)
        found[entry.relative_to(root).as_posix()] = (kind, mode, content, int(facts.st_mtime))
    return found


def set_mtimes(root: Path, mtime: int = MTIME) -> None:
    """Every entry under ``root`` (a symlink itself, not its target) gets ``mtime``."""
    for entry in root.rglob("*"):
        os.utime(entry, (mtime, mtime), follow_symlinks=False)


def oldest_python() -> str | None:
    """python3.8 from PATH when it runs (the oldest server python supported), else None."""
    found = shutil.which("python3.8")
    if found is None:
        return None
    probe = subprocess.run([found, "-c", "pass"], capture_output=True, timeout=30)
    return found if probe.returncode == 0 else None
