"""Transport.send: a file streamed to a command's stdin, over the deploy's own SSH connection.

Each test runs against a real OpenSSH server on 127.0.0.1, reached through a ``DelayProxy``
without delay (it counts the TCP connections), and against ``host = local``. The commands here
stand in for the upload command the deploy builds: they keep what they read, or a digest of it,
in files the test reads back.
"""

from __future__ import annotations

import hashlib
import io
import os
import shlex
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from pushdeploy.config import deployconf as config
from pushdeploy.errors import ConnectionError
from pushdeploy.remote.protocol import KILLED
from pushdeploy.transport import STDERR_KEPT, Sent, Transport, open_transport
from pushdeploy.transport.local import LocalTransport, RecordingTransport
from tests.integration.conftest import wait_until
from tests.support.clienthome import write_client_home
from tests.support.delayproxy import DelayProxy
from tests.support.sshd import SSHServer

ENDLESS = 1 << 40  # a size no test sends: the command or the test stops the send first
SETTLE = 10.0  # seconds a stopped send may take to return


class Link:
    """The connection a test sends over: its transport, and the proxy counting connections."""

    def __init__(self, transport: Transport, proxy: DelayProxy | None) -> None:
        self.transport, self.proxy = transport, proxy


def connect(
    server: SSHServer, proxy: DelayProxy, base: Path, client: str = "paramiko"
) -> Transport:
    """An SSH transport (``client``: ssh = paramiko | openssh) to ``server`` through ``proxy``,
    as a deploy opens it."""
    home = write_client_home(Path(os.environ["HOME"]), server, port=proxy.port)
    conf = base / "deploy.conf"
    conf.write_text(
        f"[app]\nhost = {server.user}@{proxy.host}:{proxy.port}\nkey = {home.key}\n"
        f"repo = {base / 'origin'}\npath = {base / 'app'}\nssh = {client}\n"
    )
    env = config.load(conf, "app")
    return open_transport(env, env.hosts[0], lambda text: None, "strict")


@pytest.fixture(params=["ssh", "openssh", "local"])
def link(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Link]:
    if request.param == "local":
        yield Link(LocalTransport(), None)
        return
    server: SSHServer = request.getfixturevalue("sshd")
    with DelayProxy(server.host, server.port, delay=0) as proxy:
        client = "openssh" if request.param == "openssh" else "paramiko"
        transport = connect(server, proxy, tmp_path, client)
        try:
            yield Link(transport, proxy)
        finally:
            transport.close()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Zeros(io.RawIOBase):
    """An endless source of zeros that calls ``at`` once, after ``after`` bytes were read."""

    def __init__(self, after: int = ENDLESS, at: Callable[[], object] = lambda: None) -> None:
        self.read_so_far, self.after, self.at = 0, after, at

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.read_so_far < self.after <= self.read_so_far + size:
            self.at()
        self.read_so_far += size
        return bytes(size)


def test_five_megabytes_arrive_intact_over_the_one_connection(link: Link, tmp_path: Path) -> None:
    data = os.urandom(5_000_000)
    received = tmp_path / "received"
    command = f"exec head -c {len(data)} >{shlex.quote(str(received))}"
    sent = link.transport.send(command, io.BytesIO(data), len(data))
    assert Sent(0, "", len(data)) == sent
    assert digest(data) == digest(received.read_bytes())
    lines: list[str] = []
    assert (
        link.transport.run("sha256sum " + shlex.quote(str(received)), lambda s, t: lines.append(t))
        == 0
    )
    assert [f"{digest(data)}  {received}"] == lines
    if link.proxy is not None:
        assert link.proxy.accepted == 1  # the login, the upload and the script: one connection


def test_a_command_that_exits_early_stops_the_send_without_error(link: Link) -> None:
    """It may already have the file: 'exec true' ends the send at once, status 0."""
    sent = link.transport.send("exec true", Zeros(), ENDLESS)
    assert (sent.status, sent.stderr) == (0, "")
    assert sent.sent < ENDLESS


def test_cancel_ends_the_send_soon_and_the_command_sees_a_short_input(
    link: Link, tmp_path: Path
) -> None:
    cancel = threading.Event()
    count, q = tmp_path / "count", shlex.quote(str(tmp_path / "count"))
    source = Zeros(after=3_000_000, at=cancel.set)
    started = time.monotonic()
    sent = link.transport.send(
        f"wc -c >{q}.part && mv {q}.part {q}", source, ENDLESS, cancel=cancel
    )
    assert time.monotonic() - started < SETTLE
    assert sent.status == KILLED
    assert 0 < sent.sent <= source.read_so_far < ENDLESS
    wait_until(count.exists, what="the command to see the end of its input (its channel closed)")
    assert int(count.read_text()) <= sent.sent


def test_cancel_ends_a_send_that_waits_for_a_command_reading_nothing(
    link: Link, tmp_path: Path
) -> None:
    """The remote's window is full and nothing drains it: the send still sees ``cancel``."""
    go = tmp_path / "go"
    command = f"for i in $(seq 500); do [ -e {shlex.quote(str(go))} ] && break; sleep 0.02; done"
    source, cancel, results = Zeros(), threading.Event(), list[Sent]()
    thread = threading.Thread(
        target=lambda: results.append(
            link.transport.send(command + "; cat >/dev/null", source, ENDLESS, cancel=cancel)
        )
    )
    thread.start()
    try:
        wait_until(lambda: source.read_so_far >= 1 << 20, what="the send to have begun")
        cancel.set()
        thread.join(timeout=SETTLE)
        assert not thread.is_alive()
    finally:
        go.touch()  # the command reads what is left (nothing: its input is closed) and ends
        thread.join(timeout=SETTLE)
    assert [sent.status for sent in results] == [KILLED]


def test_a_failing_command_gives_its_status_and_stderr(link: Link) -> None:
    command = "cat >/dev/null; echo 'sha256 mismatch' >&2; exit 7"
    assert Sent(7, "sha256 mismatch\n", 100_000) == link.transport.send(
        command, io.BytesIO(bytes(100_000)), 100_000
    )


def test_a_command_failing_before_it_reads_gives_its_status_and_stderr(link: Link) -> None:
    sent = link.transport.send("echo 'no space left' >&2; exit 3", Zeros(), ENDLESS)
    assert (sent.status, sent.stderr) == (3, "no space left\n")


def test_only_the_first_64_kib_of_stderr_are_kept(link: Link) -> None:
    command = "cat >/dev/null; head -c 300000 /dev/zero | tr '\\0' x >&2"
    sent = link.transport.send(command, io.BytesIO(b"data"), 4)
    assert (sent.status, sent.stderr, sent.sent) == (0, "x" * STDERR_KEPT, 4)


def test_a_short_source_ends_the_input_where_it_ends(link: Link) -> None:
    sent = link.transport.send("wc -c >&2", io.BytesIO(b"12345"), 10)
    assert Sent(0, "5\n", 5) == sent


def test_a_send_and_a_script_share_the_connection_from_two_threads(
    link: Link, tmp_path: Path
) -> None:
    """The upload runs while the deploy script runs: each waits (bounded) for the other to
    have started, so they surely overlap."""
    data = os.urandom(3_000_000)
    q = {name: shlex.quote(str(tmp_path / name)) for name in ("received", "sending", "scripted")}
    wait_for = "for i in $(seq 300); do [ -e {} ] && break; sleep 0.02; done; [ -e {} ]"
    upload = (
        f"touch {q['sending']}; head -c {len(data)} >{q['received']};"
        f" {wait_for.format(q['scripted'], q['scripted'])}"
    )
    script = (
        f"{wait_for.format(q['sending'], q['sending'])} || exit 9\n"
        f"for i in $(seq 1000); do echo line $i; done; touch {q['scripted']}\n"
    )
    results: list[Sent] = []
    thread = threading.Thread(
        target=lambda: results.append(link.transport.send(upload, io.BytesIO(data), len(data)))
    )
    thread.start()
    lines: list[str] = []
    status = link.transport.run(script, lambda stream, text: lines.append(text))
    thread.join(timeout=60)
    assert status == 0
    assert [f"line {i}" for i in range(1, 1001)] == lines
    assert [Sent(0, "", len(data))] == results
    assert digest(data) == digest((tmp_path / "received").read_bytes())


@pytest.mark.parametrize("client", ["paramiko", "openssh"])
def test_a_lost_connection_is_a_connection_error(
    sshd: SSHServer, tmp_path: Path, client: str
) -> None:
    """(The OpenSSH transport adds ssh's own words in parentheses.)"""
    with DelayProxy(sshd.host, sshd.port, delay=0) as proxy:
        transport = connect(sshd, proxy, tmp_path, client)
        try:
            with pytest.raises(ConnectionError) as caught:
                transport.send("cat >/dev/null", Zeros(after=3_000_000, at=proxy.close), ENDLESS)
        finally:
            transport.close()
    lost = f"{transport.label}: the connection was lost while sending"
    assert lost == caught.value.message.split(" (ssh: ")[0]


def test_a_dry_run_records_the_command_and_sends_nothing() -> None:
    recorded: list[tuple[str, str]] = []
    transport = RecordingTransport("app1", lambda label, text: recorded.append((label, text)))
    source: BinaryIO = io.BytesIO(b"never read")
    assert Sent(0, "", 10) == transport.send("exec head -c 10 >part", source, 10)
    assert recorded == [
        ("app1", "# the next command reads 10 bytes on stdin\nexec head -c 10 >part\n")
    ]
    assert source.tell() == 0
