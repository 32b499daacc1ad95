"""A network that drops without either side closing (half-open) ends in bounded time (issue 18).

A ``FaultProxy`` between the client and a real sshd stops forwarding both ways and never closes
(``blackhole``). The deploy runs as a child process whose heartbeat is shortened through the
contract (PUSHDEPLOY_TEST_HEARTBEAT: a beat each second, silent after SILENT seconds; the
header takes it to the server). Then, within SILENT seconds and a few more: the client exits 4
with one error line, and the server, before its switch, stops, removes what it half-built,
drops the lock and leaves no process behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Project
from tests.support import faults
from tests.support.clienthome import write_client_home
from tests.support.faultproxy import FaultProxy
from tests.support.sshd import SSHServer

pytestmark = pytest.mark.sshd

SILENT = 4  # seconds: the shortened SILENT_AFTER (with a beat each second)
BOUND = SILENT + 4.0  # the client and the server are done within this, after the black hole
QUIET_BUILD = "sleep 60"


@pytest.fixture
def short_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUSHDEPLOY_TEST_HEARTBEAT", f"1 {SILENT}")


def through(proxy: FaultProxy, server: SSHServer) -> str:
    """``user@127.0.0.1:PORT`` of ``server`` as reached through ``proxy``, known_hosts written."""
    write_client_home(Path(os.environ["HOME"]), server, port=proxy.port)
    return f"{server.user}@{proxy.host}:{proxy.port}"


def sshd_pid(server: SSHServer) -> int:
    return int(server.pid_path.read_text().split()[0])


def until(check: Callable[[], object], timeout: float) -> bool:
    """Poll ``check`` every 50 ms until it holds or ``timeout`` seconds pass; did it hold?"""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def one_error(output: str) -> list[str]:
    """What is wrong with how the client ended: a traceback, or not one error line."""
    errors = [line for line in output.splitlines() if line.startswith("pushdeploy: error:")]
    problems = ["a traceback was printed"] if "Traceback" in output else []
    return problems + ([] if len(errors) == 1 else [f"error lines: {errors}"])


def left_whole(root: Path, server: SSHServer, sessions: set[int], before: set[str]) -> list[str]:
    """Within BOUND: no lock, no half-built release, nothing of the deploy running."""
    lock = root / ".pushdeploy" / "lock"

    def settled() -> bool:
        running = faults.leftovers(root, sessions, server.port)
        return not (lock.exists() or running or faults.releases(root) - before)

    if until(settled, BOUND):
        return []
    left = faults.leftovers(root, sessions, server.port)
    faults.kill_all(left)
    return [
        *([f"the lock is still held: {lock}"] if lock.exists() else []),
        *(
            [f"half-built: {faults.releases(root) - before}"]
            if faults.releases(root) - before
            else []
        ),
        *(f"still running: {proc}" for proc in left),
    ]


@pytest.fixture
def proxy(sshd: SSHServer) -> Iterator[FaultProxy]:
    with FaultProxy(sshd.host, sshd.port, lifetime=120) as proxy:
        yield proxy


OPENSSH_EXIT_0 = pytest.mark.xfail(
    strict=False,
    reason="KNOWN DEFECT (issue 20, open): once in a few CI runs the OpenSSH transport's client "
    "ended with exit 0 and no summary after a black hole during a quiet build; not yet understood",
)


@pytest.mark.parametrize("client", ["paramiko", pytest.param("openssh", marks=OPENSSH_EXIT_0)])
def test_a_black_hole_during_a_quiet_build_ends_both_sides_in_bounded_time(
    tmp_path: Path, sshd: SSHServer, proxy: FaultProxy, short_heartbeat: None, client: str
) -> None:
    key = write_client_home(Path(os.environ["HOME"]), sshd, port=proxy.port).key
    keys = {"build": QUIET_BUILD, "ssh": client}
    p = Project(tmp_path, f"host = {through(proxy, sshd)}\nkey = {key}", keys)
    p.ok("app", "setup")
    before = faults.releases(p.root)
    cli = faults.CliProcess("-c", p.conf, "-C", p.base, "app")
    try:
        cli.wait_for_step("build")
        sessions = {proc.sid for proc in faults.script_processes(sshd_pid(sshd))}
        proxy.blackhole()
        status = cli.wait(BOUND)
        problems = [f"exit {status}, not 4, within {BOUND} s"] if status != 4 else []
        problems += one_error(cli.output)
        # pushdeploy's own watch says "went silent"; OpenSSH's client may notice first (its
        # ServerAlive probes), and then says the connection was lost: both true.
        if "went silent" not in cli.output and "connection was lost" not in cli.output:
            problems.append("the error does not say the connection was lost or went silent")
        problems += left_whole(p.root, sshd, sessions, before)
    finally:
        cli.close()
    assert not problems, "\n".join(problems) + "\n" + cli.output


@pytest.mark.parametrize(
    ("client", "says"), [("paramiko", "no answer from the server"), ("openssh", "timed out")]
)
def test_a_black_hole_at_the_login_is_exit_4_in_bounded_time(
    tmp_path: Path,
    sshd: SSHServer,
    proxy: FaultProxy,
    short_heartbeat: None,
    client: str,
    says: str,
) -> None:
    key = write_client_home(Path(os.environ["HOME"]), sshd, port=proxy.port).key
    p = Project(tmp_path, f"host = {through(proxy, sshd)}\nkey = {key}", {"ssh": client})
    proxy.blackhole()  # the TCP connection is made (the proxy accepts it); nothing more comes
    cli = faults.CliProcess("-c", p.conf, "-C", p.base, "app", "status")
    try:
        status = cli.wait(BOUND)
    finally:
        cli.close()
    problems = [f"exit {status}, not 4, within {BOUND} s"] if status != 4 else []
    problems += one_error(cli.output)
    assert not problems, "\n".join(problems) + "\n" + cli.output
    assert says in cli.output


def test_a_black_hole_while_a_host_waits_at_the_fleets_barrier_stops_it_and_the_fleet(
    tmp_path: Path,
    fresh_sshd: SSHServer,
    more_sshds: Callable[[int], list[SSHServer]],
    short_heartbeat: None,
) -> None:
    """Host 0 (through the proxy) is built and waits for its word; host 1 still builds (it waits
    for a file in its HOME). Host 0's network drops: the client gives up on it and stops host 1;
    host 0's server, hearing nothing, stops too."""
    first, second = fresh_sshd, more_sshds(1)[0]
    with FaultProxy(first.host, first.port, lifetime=120) as proxy:
        home = write_client_home(Path(os.environ["HOME"]), first, port=proxy.port)
        spec = f"{first.user}@{proxy.host}:{proxy.port}"
        with home.known_hosts.open("a") as fh:
            fh.write(second.known_hosts_line() + "\n")
        public = first.client_key.with_name(first.client_key.name + ".pub").read_text()
        with second.authorized_keys.open("a") as fh:
            fh.write(public)
        hosts = f"{spec} {second.user}@127.0.0.1:{second.port}"
        wait = 'end=$((SECONDS + 60)); until [ -e "$HOME/go" ] || [ $SECONDS -ge $end ]; do sleep 0.1; done'
        p = Project(tmp_path, f"host = {hosts}\nkey = {home.key}", {"path": "~/deploy"})
        p.ok("app", "setup")
        (first.server_home / "go").touch()  # host 0's build ends at once, host 1's waits
        p.configure(build=wait)
        roots = [first.server_home / "deploy", second.server_home / "deploy"]
        before = [faults.releases(root) for root in roots]
        cli = faults.CliProcess("-c", p.conf, "-C", p.base, "app")
        try:
            cli.wait_for_step("build")
            sessions = {proc.sid for proc in faults.script_processes(sshd_pid(first))}
            sessions |= {proc.sid for proc in faults.script_processes(sshd_pid(second))}
            runs = roots[0] / ".pushdeploy" / "runs"

            def prepared() -> bool:
                logs = runs.glob("*.log") if runs.is_dir() else []
                return any("value prepared yes" in log.read_text() for log in logs)

            assert until(prepared, 20), "host 0 never reached the barrier:\n" + cli.output
            proxy.blackhole()
            status = cli.wait(BOUND)
            problems = [f"exit {status}, not 4, within {BOUND} s"] if status != 4 else []
            problems += one_error(cli.output)
            for i, (root, server) in enumerate(zip(roots, (first, second), strict=True)):
                said = left_whole(root, server, sessions, before[i])
                problems += [f"host {i}: {problem}" for problem in said]
        finally:
            cli.close()
            (second.server_home / "go").touch()
    assert not problems, "\n".join(problems) + "\n" + cli.output
