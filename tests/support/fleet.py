"""A fleet: several real OpenSSH servers on 127.0.0.1 deployed to as one environment ``[app]``.

Like ``test_multihost.Pair``, for any number of servers: one client key for all of them (the
first server's, added to every other's authorized_keys) and one known_hosts naming them all.
Each server's HOME is its disk: ``path = ~/deploy`` puts host *i*'s deploy root at
``roots[i]``. The last host is written without a user (``127.0.0.1:PORT``: the login name is
this machine's, as the servers' is), so host columns have different widths.

Every server is a process on this machine, so a hook can write to ``marks``, a file the test
reads: ``mark(word)`` is the shell text of a line ``WORD HOME SECONDS.NANOS [SEEN...]`` (SEEN:
what every host's disk showed at that moment), and ``marks_of(word)`` reads those lines back with
the host's index in place of its HOME.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.support.clienthome import write_client_home
from tests.support.sshd import SSHServer

if TYPE_CHECKING:
    from tests.integration.conftest import Project


@dataclass(frozen=True)
class Mark:
    """One line a hook wrote to the shared file: which host, when (the epoch, in seconds), and
    what it saw of every host at that moment, when asked (``Fleet.mark``)."""

    word: str
    host: int
    time: float
    seen: tuple[str, ...]


class Fleet:
    """``servers`` as the hosts of ``project``'s ``[app]`` (``project`` is the Project class of
    tests/integration/conftest.py, passed in so that this module needs no conftest import)."""

    def __init__(self, tmp_path: Path, servers: list[SSHServer], project: type[Project]) -> None:
        first = servers[0]
        home = write_client_home(Path(os.environ["HOME"]), first)
        public = first.client_key.with_name(first.client_key.name + ".pub").read_text()
        with home.known_hosts.open("a") as fh:
            for server in servers[1:]:
                fh.write(server.known_hosts_line() + "\n")
        for server in servers[1:]:
            with server.authorized_keys.open("a") as fh:
                fh.write(public)
        self.servers = servers
        self.roots = [s.server_home / "deploy" for s in servers]
        self.specs = [f"{s.user}@127.0.0.1:{s.port}" for s in servers]
        self.specs[-1] = f"127.0.0.1:{servers[-1].port}"
        self.project = project(tmp_path, f"host = {' '.join(self.specs)}\nkey = {home.key}")
        self.project.configure(path="~/deploy")
        self.marks = tmp_path / "marks"

    # -- each host's disk --------------------------------------------------------------------

    def live(self, i: int) -> str:
        return os.readlink(self.roots[i] / "current").rsplit("/", 1)[-1]

    def version(self, i: int) -> str:
        return (self.roots[i] / "current" / "VERSION").read_text().strip()

    def versions(self) -> list[str]:
        return [self.version(i) for i in range(len(self.roots))]

    def releases(self, i: int) -> list[str]:
        return sorted(p.name for p in (self.roots[i] / "releases").iterdir())

    def history(self, i: int) -> list[list[str]]:
        """Host i's ``.deploys``: each line's fields (SHA, time, release, ref, who, action, outcome)."""
        text = (self.roots[i] / ".deploys").read_text()
        return [line.split("\t") for line in text.splitlines()]

    def locked(self, i: int) -> bool:
        return (self.roots[i] / ".pushdeploy" / "lock").exists()

    def run_log(self, i: int, release: str) -> Path:
        return self.roots[i] / ".pushdeploy" / "runs" / f"{release}.log"

    # -- what hooks wrote --------------------------------------------------------------------

    def mark(self, word: str, *, versions: bool = False, locks: bool = False) -> str:
        """Shell text that appends ``WORD HOME SECONDS.NANOS`` to the shared file, then with
        ``versions`` each host's live VERSION (``-``: none), with ``locks`` whether each host's
        deploy lock is held (``L`` or ``-``), as they are at that moment."""
        seen = []
        for root in self.roots:
            version = shlex.quote(str(root / "current" / "VERSION"))
            lock = shlex.quote(str(root / ".pushdeploy" / "lock"))
            seen += [f'"$(cat {version} 2>/dev/null || echo -)"'] if versions else []
            seen += [f'"$([ -e {lock} ] && echo L || echo -)"'] if locks else []
        said = " ".join([shlex.quote(word), '"$HOME"', '"$(date +%s.%N)"', *seen])
        return f"echo {said} >> {shlex.quote(str(self.marks))}"

    def marks_of(self, word: str) -> list[Mark]:
        homes = {str(s.server_home): i for i, s in enumerate(self.servers)}
        found = []
        lines = self.marks.read_text().splitlines() if self.marks.exists() else []
        for line in lines:
            said, home, when, *seen = line.split(" ")
            if said == word:
                found.append(Mark(said, homes[home], float(when), tuple(seen)))
        return found

    # -- what each sshd saw --------------------------------------------------------------------

    def log_sizes(self) -> list[int]:
        return [s.log_size() for s in self.servers]

    def counts(self, since: list[int], text: str) -> list[int]:
        """How many lines of each server's log, after ``since`` (``log_sizes``), contain ``text``."""
        return [
            sum(text in line for line in s.log_since(offset).splitlines())
            for s, offset in zip(self.servers, since, strict=True)
        ]
