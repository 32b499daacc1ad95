"""A client's ``~/.ssh`` for one test sshd: its key, known_hosts and an optional host alias.

OpenSSH's *client* resolves ``~`` from the passwd database, ignoring ``$HOME``. Tests that run
``ssh`` must pass ``-F <home>/.ssh/config`` (``write_client_home`` writes absolute paths in it;
``ClientHome.ssh_command`` does it). Python clients (paramiko, Fabric) do follow ``$HOME``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from tests.support.sshd import SSHServer


@dataclass(frozen=True)
class ClientHome:
    """What ``write_client_home`` wrote: where a client finds its key, known_hosts and alias."""

    home: Path
    ssh_dir: Path
    host: str
    port: int
    user: str
    key: Path
    known_hosts: Path
    config: Path
    alias: str | None

    def ssh_command(self, *remote: str) -> list[str]:
        """An OpenSSH client command line that uses only this home (``-F``: see module doc)."""
        target = self.alias or f"{self.user}@{self.host}"
        return ["ssh", "-F", str(self.config), "-o", "BatchMode=yes", target, *remote]


def write_client_home(
    home: Path,
    server: SSHServer,
    *,
    known_hosts: bool = True,
    alias: str | None = None,
    port: int | None = None,
) -> ClientHome:
    """Write ``home/.ssh`` for ``server``: its client key, known_hosts and an optional alias.

    ``port`` replaces the server's port everywhere (known_hosts, config), for a client that goes
    through a ``DelayProxy``. Existing files are overwritten. The config uses absolute paths and
    ``IdentitiesOnly``/``UserKnownHostsFile`` so nothing of the developer's ``~/.ssh`` is used.
    """
    port = server.port if port is None else port
    ssh_dir = Path(home) / ".ssh"
    ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    ssh_dir.chmod(0o700)
    key = ssh_dir / "id_ed25519"
    shutil.copyfile(server.client_key, key)
    key.chmod(0o600)
    shutil.copyfile(
        server.client_key.with_name(server.client_key.name + ".pub"), ssh_dir / "id_ed25519.pub"
    )
    known = ssh_dir / "known_hosts"
    known.write_text(server.known_hosts_line(port) + "\n" if known_hosts else "", encoding="utf-8")
    known.chmod(0o600)
    config = ssh_dir / "config"
    lines = []
    if alias:
        lines += [
            f"Host {alias}",
            f"    HostName {server.host}",
            f"    Port {port}",
            f"    User {server.user}",
            f"    IdentityFile {key}",
            "    IdentitiesOnly yes",
            "",
        ]
    lines += [
        "Host *",
        f"    UserKnownHostsFile {known}",
        "    GlobalKnownHostsFile /dev/null",
        "    StrictHostKeyChecking yes",
        "    IdentityAgent none",
        "",
    ]
    config.write_text("\n".join(lines), encoding="utf-8")
    config.chmod(0o600)
    return ClientHome(
        home=Path(home),
        ssh_dir=ssh_dir,
        host=server.host,
        port=port,
        user=server.user,
        key=key,
        known_hosts=known,
        config=config,
        alias=alias,
    )
