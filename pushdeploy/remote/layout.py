"""The remote directory layout under ``path``, and how to quote those paths for bash.

::

    path/repo/          bare mirror of ``repo``, fetched each deploy
    path/releases/ID/   one tree per release
    path/current        symlink to the live release (switched by rename, atomically)
    path/.current.new   the next ``current``, and ``.current.back`` the one to switch back to,
                        both made before a switch and gone once it is checked
    path/shared/        linked into releases; logs/ and pids/ made by setup
    path/.deploys       the history (see history.py)
    path/.pushdeploy/   lock, monitor and pushdeploy's own state; runs/ID.log: each deploy's log;
                        uploads/: artifacts waiting to be unpacked; etags/ID: a URL artifact's ETag
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass


def quote(path: str) -> str:
    """Quote a path for bash, keeping a leading ``~/`` meaning the login user's home."""
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


@dataclass(frozen=True)
class Layout:
    root: str

    @property
    def repo(self) -> str:
        return f"{self.root}/repo"

    @property
    def releases(self) -> str:
        return f"{self.root}/releases"

    def release(self, release_id: str) -> str:
        return f"{self.releases}/{release_id}"

    @property
    def current(self) -> str:
        return f"{self.root}/current"

    @property
    def next_current(self) -> str:
        """The link a switch renames over ``current``, made before anything goes live."""
        return f"{self.root}/.current.new"

    @property
    def back_current(self) -> str:
        """The link that undoes a switch (what ``current`` was), made before the switch."""
        return f"{self.root}/.current.back"

    @property
    def shared(self) -> str:
        return f"{self.root}/shared"

    @property
    def logs(self) -> str:
        return f"{self.shared}/logs"

    @property
    def pids(self) -> str:
        return f"{self.shared}/pids"

    @property
    def deploys(self) -> str:
        return f"{self.root}/.deploys"

    @property
    def state(self) -> str:
        return f"{self.root}/.pushdeploy"

    @property
    def run_logs(self) -> str:
        """Each deploy's own log on the server, ``ID.log``, kept as long as its release."""
        return f"{self.state}/runs"

    @property
    def uploads(self) -> str:
        """Artifacts that arrived (named by their SHA-256) and wait to be unpacked."""
        return f"{self.state}/uploads"

    @property
    def etags(self) -> str:
        """``ID``: the ETag of the URL artifact release ID came from (is it still live?)."""
        return f"{self.state}/etags"

    @property
    def lock(self) -> str:
        return f"{self.state}/lock"

    @property
    def monitor_zipapp(self) -> str:
        return f"{self.state}/monitor.pyz"

    @property
    def monitor_config(self) -> str:
        return f"{self.state}/monitor.json"
