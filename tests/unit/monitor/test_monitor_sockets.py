"""Listen entries, and the LISTEN_FDS hand-off to a spawned app."""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
from pathlib import Path

import pytest

from pushdeploy.monitor import sockets
from pushdeploy.monitor.sockets import Endpoint


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", Endpoint("127.0.0.1:8080", host="127.0.0.1", port=8080)),
        ("0.0.0.0:80", Endpoint("0.0.0.0:80", host="0.0.0.0", port=80)),
        ("localhost:3000", Endpoint("localhost:3000", host="localhost", port=3000)),
        ("[::1]:8080", Endpoint("[::1]:8080", host="::1", port=8080)),
        ("/run/app.sock", Endpoint("/run/app.sock", path="/run/app.sock")),
        ("shared/app.sock", Endpoint("shared/app.sock", path="/srv/shared/app.sock")),
    ],
)
def test_parse_endpoint(text: str, expected: Endpoint) -> None:
    assert sockets.parse_endpoint(text, base_dir="/srv") == expected


@pytest.mark.parametrize("text", ["", "8080", "host", "host:", ":80", "h:0", "h:65536", "::1:80"])
def test_parse_endpoint_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        sockets.parse_endpoint(text)


def test_fd_names_put_the_health_channel_last() -> None:
    assert sockets.fd_names(2) == ["listen", "listen", "health"]


def test_activation_env_drops_inherited_protocol_variables() -> None:
    env = sockets.activation_env(
        {"PATH": "/bin", "LISTEN_FDS": "9", "LISTEN_PID": "1", "NOTIFY_SOCKET": "/x"},
        2,
        ["listen", "health"],
        "/srv/app/releases/1",
    )
    assert env == {
        "PATH": "/bin",
        "LISTEN_FDS": "2",
        "LISTEN_FDNAMES": "listen:health",
        "PUSHDEPLOY_RELEASE": "/srv/app/releases/1",
    }


def test_activation_argv_execs_the_app_from_a_shell_that_sets_listen_pid() -> None:
    assert sockets.activation_argv("node server.js") == [
        "/bin/sh",
        "-c",
        'cd "$PUSHDEPLOY_RELEASE" || exit 127; LISTEN_PID=$$; export LISTEN_PID; exec node server.js',
    ]


def test_sd_notify_is_a_no_op_outside_systemd() -> None:
    assert sockets.sd_notify("READY=1", {}) is False


def test_sd_notify_sends_a_datagram(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        assert sockets.sd_notify("READY=1", {"NOTIFY_SOCKET": path}) is True
        assert server.recv(100) == b"READY=1"


PROBE = (
    "import json, os, socket; "
    "fds = int(os.environ['LISTEN_FDS']); "
    "print(json.dumps({'pid': os.getpid(), 'listen_pid': os.environ['LISTEN_PID'], 'fds': fds, "
    "'names': os.environ['LISTEN_FDNAMES'], 'cwd': os.getcwd(), 'open': sorted(os.listdir('/proc/self/fd')), "
    "'addrs': [socket.socket(fileno=fd).getsockname() for fd in range(3, 3 + fds)]}))"
)


def test_spawn_puts_fds_at_3_and_sets_listen_pid_to_the_app(tmp_path: Path) -> None:
    """The app sees fds 3.. in order, LISTEN_PID == its own pid, its cwd, and no other fd."""
    listeners = [sockets.bind(Endpoint("a", path=str(tmp_path / n))) for n in ("a", "b", "c")]
    out = tmp_path / "out"
    log_fd = os.open(out, os.O_WRONLY | os.O_CREAT)
    try:
        fds = [s.fileno() for s in reversed(listeners)]
        env = sockets.activation_env(dict(os.environ), 3, ["listen"] * 3, str(tmp_path))
        app = f"{sys.executable} -c {shlex.quote(PROBE)}"
        pid = sockets.spawn_with_fds(sockets.activation_argv(app), env, fds, log_fd)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(log_fd)
        for s in listeners:
            s.close()
    assert os.waitstatus_to_exitcode(status) == 0, out.read_text()
    seen = json.loads(out.read_text())
    assert seen["listen_pid"] == str(seen["pid"]) == str(pid)
    assert seen["fds"] == 3
    assert seen["names"] == "listen:listen:listen"
    assert seen["cwd"] == str(tmp_path)
    assert seen["addrs"] == [str(tmp_path / n) for n in ("c", "b", "a")]
    # 0-2, the three sockets, and the fd listdir itself opened
    assert len(seen["open"]) == 7


def test_bind_replaces_a_stale_unix_socket_but_not_a_live_one(tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    endpoint = Endpoint(str(path), path=str(path))
    stale = sockets.bind(endpoint)
    stale.close()  # the file stays behind, nobody accepts
    fresh = sockets.bind(endpoint)
    try:
        with pytest.raises(OSError):
            sockets.bind(endpoint)  # fresh is alive: its file is not ours to remove
        assert path.exists()
    finally:
        fresh.close()
