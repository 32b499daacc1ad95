"""ssh_config's ServerAliveInterval/CountMax and ConnectTimeout bound a dead link, as in ``ssh``.

A ``FaultProxy`` between the client and a real sshd stops forwarding both ways and never closes
(``blackhole``); the heartbeat keeps its real numbers (a beat every 2 s, silent after 20 s), so
only the client's ssh_config can make the deploy end sooner.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.integration.test_ssh_config import needs_ssh
from tests.support import faults
from tests.support.clienthome import write_client_home
from tests.support.faultproxy import FaultProxy
from tests.support.sshd import SSHServer

# ssh gives up after one quiet interval and CountMax probes unanswered: here after 3 s
ALIVE = "    ServerAliveInterval 1\n    ServerAliveCountMax 2\n"


def app_via(server: SSHServer, port: int, extra: str) -> None:
    """~/.ssh/config's ``Host app``: ``server`` reached at 127.0.0.1:``port``, with ``extra``."""
    home = write_client_home(Path(os.environ["HOME"]), server, port=port)
    home.config.write_text(
        f"Host app\n    HostName 127.0.0.1\n    Port {port}\n    User {server.user}\n"
        f"    IdentityFile {home.key}\n    IdentitiesOnly yes\n{extra}"
        f"    UserKnownHostsFile {home.known_hosts}\n    GlobalKnownHostsFile /dev/null\n",
        encoding="utf-8",
    )


@pytest.fixture
def proxy(sshd: SSHServer) -> Iterator[FaultProxy]:
    with FaultProxy(sshd.host, sshd.port, lifetime=120) as proxy:
        yield proxy


@needs_ssh
@pytest.mark.parametrize(
    ("client", "says"),
    [
        ("paramiko", "the connection went silent (nothing came for 3 s"),
        ("openssh", "the connection was lost"),  # ssh's own ServerAlive gave up: it exited
    ],
)
def test_server_alive_settings_end_a_deploy_on_a_dead_link_within_their_bound(
    tmp_path: Path, sshd: SSHServer, proxy: FaultProxy, client: str, says: str
) -> None:
    """ServerAliveInterval 1, ServerAliveCountMax 2: a black hole mid-deploy is exit 4 within
    about 3 s (not the default 20), with either transport."""
    app_via(sshd, proxy.port, ALIVE)
    p = Project(tmp_path, "host = app", {"build": "sleep 60", "ssh": client})
    p.ok("app", "setup")
    cli = faults.CliProcess("-c", p.conf, "-C", p.base, "app")
    try:
        cli.wait_for_step("build")
        proxy.blackhole()
        started = time.monotonic()
        status = cli.wait(10.0)
        took = time.monotonic() - started
    finally:
        cli.close()
        proxy.close()  # sshd sees the end: the server's guard cleans up at once
    assert status == 4, cli.output
    assert took < 5.0, f"{took:.1f} s\n{cli.output}"
    assert says in cli.output


@needs_ssh
def test_a_quiet_step_longer_than_the_server_alive_bound_completes(
    tmp_path: Path, sshd: SSHServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a 3 s ServerAlive bound, a build quiet for 5 s goes live: sshd answers the
    keepalives while the script says nothing (its beats slowed to one each 10 s)."""
    monkeypatch.setenv("PUSHDEPLOY_TEST_HEARTBEAT", "10 30")  # the child's, and its server's
    app_via(sshd, sshd.port, ALIVE)
    p = Project(tmp_path, "host = app", {"build": "sleep 5"})
    p.ok("app", "setup")
    cli = faults.CliProcess("-c", p.conf, "-C", p.base, "app")
    try:
        status = cli.wait(30.0)
    finally:
        cli.close()
    assert status == 0, cli.output
    assert p.live == "v1"


@needs_ssh
def test_connect_timeout_bounds_the_banner_wait(
    tmp_path: Path, sshd: SSHServer, proxy: FaultProxy
) -> None:
    """ConnectTimeout 2: a server that accepts TCP and never answers is exit 4 within about 2 s."""
    app_via(sshd, proxy.port, "    ConnectTimeout 2\n")
    p = Project(tmp_path, "host = app")
    proxy.blackhole()  # the TCP connection is made (the proxy accepts it); nothing more comes
    cli = faults.CliProcess("-c", p.conf, "-C", p.base, "app", "status")
    started = time.monotonic()
    try:
        status = cli.wait(10.0)
        took = time.monotonic() - started
    finally:
        cli.close()
    assert status == 4, cli.output
    assert took < 5.0, f"{took:.1f} s\n{cli.output}"
    assert "no answer from the server for 2 s during the login" in cli.output


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port on 127.0.0.1 whose SYNs go unanswered: a listener that never accepts, its queue
    (listen(0): one connection) filled, so the kernel drops the next handshakes."""
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = int(listener.getsockname()[1])
        filler.connect(("127.0.0.1", port))
        yield port


@needs_ssh
def test_connect_timeout_bounds_the_dial_dialed_ahead_or_not(
    tmp_path: Path, sshd: SSHServer, unanswered_port: int
) -> None:
    """ConnectTimeout 2 and a host that never answers the TCP handshake (the connection
    dialed ahead as pushdeploy starts): exit 4 within about 2 s, not the default 15."""
    key = write_client_home(Path(os.environ["HOME"]), sshd, port=unanswered_port).key
    (Path(os.environ["HOME"]) / ".ssh" / "config").write_text("Host *\n    ConnectTimeout 2\n")
    host = f"host = {sshd.user}@127.0.0.1:{unanswered_port}\nkey = {key}"
    p = Project(tmp_path, host)
    cli = faults.CliProcess("-c", p.conf, "-C", p.base, "app", "status")
    started = time.monotonic()
    try:
        status = cli.wait(12.0)
        took = time.monotonic() - started
    finally:
        cli.close()
    assert status == 4, cli.output
    assert took < 5.0, f"{took:.1f} s\n{cli.output}"
    assert f"cannot connect to 127.0.0.1:{unanswered_port}: timed out" in cli.output
