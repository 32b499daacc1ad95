"""The twin linker: files of a new release identical to their twins in the live one become links.

Standard library only, Python >= 3.8, one file: once unpack.py has written an artifact's release,
the deploy script runs it on the server as ``python3 -c "$TWINS_SOURCE" NEW PREVIOUS`` (PREVIOUS:
the live release, through ``current``), and it prints ``linked=N linked_bytes=N``. A twin is the
regular file at the same path under PREVIOUS with the same size, mode, owner, disk and bytes,
reached through no symlink. Linking only saves space: a file it cannot link stays the copy
unpack.py wrote, and only bad arguments (64) or a bug (70) end it with another status than 0.
"""

from __future__ import annotations

import functools
import os
import stat
import sys

USAGE, BUG, CHUNK = 64, 70, 1 << 20


def link_twins(new: str, previous: str) -> tuple[int, int]:
    """Swaps each file under NEW that has a twin for a link to it: (files linked, their bytes).
    A file NEW holds twice (a hard link of the archive) is left alone, so that it stays one file;
    a directory keeps its mtime."""
    root, linked, linked_bytes = os.path.realpath(previous), 0, 0
    for directory, _, names in os.walk(new):  # symlinks to directories are not walked into
        before = os.lstat(directory)
        for name in names:
            path = os.path.join(directory, name)
            facts = os.lstat(path)
            alone = stat.S_ISREG(facts.st_mode) and facts.st_nlink == 1
            if alone and _link(root, os.path.relpath(path, new), path):
                linked, linked_bytes = linked + 1, linked_bytes + facts.st_size
        os.utime(directory, ns=(before.st_atime_ns, before.st_mtime_ns))
    return linked, linked_bytes


def _link(root: str, key: str, new: str) -> bool:
    """Swaps the file ``new`` for a link to its twin at ``key`` under ``root``, if it has one."""
    parts, old = key.split("/"), os.path.join(root, key)
    try:
        for i in range(1, len(parts)):  # PREVIOUS is server state, but no symlink in it is followed
            if stat.S_ISLNK(os.lstat(os.path.join(root, *parts[:i])).st_mode):
                return False
        was, now = os.lstat(old), os.lstat(new)
        facts = [(s.st_size, stat.S_IMODE(s.st_mode), s.st_uid, s.st_dev) for s in (was, now)]
        if not stat.S_ISREG(was.st_mode) or was.st_ino == now.st_ino or facts[0] != facts[1]:
            return False
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        with os.fdopen(os.open(old, flags), "rb") as a, open(new, "rb") as b:
            chunks = iter(functools.partial(a.read, CHUNK), b"")
            if os.fstat(a.fileno()).st_ino != was.st_ino or any(c != b.read(CHUNK) for c in chunks):
                return False
        temporary = os.path.join(os.path.dirname(new), f".pushdeploy-link-{os.getpid()}")
        os.link(old, temporary, follow_symlinks=False)
        if os.lstat(temporary).st_ino != was.st_ino:  # swapped under us: keep the new copy
            os.unlink(temporary)
            return False
        os.replace(temporary, new)
        return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    """The command line: returns the exit status after one line on stdout or stderr."""
    if len(argv) != 2 or not os.path.isdir(argv[0]):
        sys.stderr.write("usage: twins NEW PREVIOUS (NEW: an existing directory)\n")
        return USAGE
    try:
        print("linked={} linked_bytes={}".format(*link_twins(*argv)))
        return 0
    except Exception as error:  # a bug: still one line, never a traceback
        sys.stderr.write(f"internal error: {type(error).__name__}: {error}"[:500] + "\n")
        return BUG


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
