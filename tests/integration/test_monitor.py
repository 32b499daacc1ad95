"""The monitor with a real example app on 127.0.0.1: reloads, failures, respawns, heartbeat.

Each test builds a deploy path (``releases/A``, ``releases/B`` copies of examples/app with their
own VERSION, ``current -> releases/A``, ``shared/logs``, ``.pushdeploy``) and a monitor with
short timings. Every wait polls with a deadline; every process started is killed at teardown
(the monitor and its workers share one process group, which teardown SIGKILLs).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pushdeploy.monitor import affinity, bundle

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "app"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, http.client.HTTPException) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def get(port: int, path: str = "/", timeout: float = 2.0) -> tuple[str, int]:
    """``GET /`` from the app: (version, pid)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read().decode()
    finally:
        conn.close()
    assert response.status == 200, body
    version, pid = body.split()
    return version, int(pid)


def gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


class Site:
    """A deploy path on disk plus the monitor config and commands for it."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.config = root / ".pushdeploy" / "monitor.json"
        self.state_dir = root / ".pushdeploy" / "monitor"
        self.pgids: set[int] = set()
        self.popen: list[subprocess.Popen[str]] = []
        for name in ("releases", "shared/logs", ".pushdeploy"):
            (root / name).mkdir(parents=True)
        for version in ("A", "B"):
            self.release(version)
        self.switch("A")

    def release(self, version: str, **knobs: str) -> Path:
        path = self.root / "releases" / version
        if not path.exists():
            shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns("__pycache__"))
            (path / "VERSION").write_text(version + "\n")
            (path / "tmp").mkdir()
        for knob, value in knobs.items():
            (path / knob).write_text(value)
        return path

    def switch(self, version: str) -> None:
        """Point ``current`` at a release atomically, as the deploy does."""
        tmp = self.root / "current.tmp"
        tmp.symlink_to(f"releases/{version}")
        os.replace(tmp, self.root / "current")

    def touch_restart(self) -> None:
        path = self.root / "current" / "tmp" / "restart.txt"
        path.touch()
        os.utime(path, ns=(time.time_ns(), time.time_ns()))

    def write_config(self, **overrides: Any) -> None:
        config = {
            "app": f"{sys.executable} app.py",
            "listen": [f"127.0.0.1:{self.port}"],
            "workers": 2,
            "grace": 1,
            "ready": {"http": "/health", "timeout": 5},
            "poll_interval": 0.1,
            **overrides,
        }
        self.config.write_text(json.dumps(config))

    def cli(self, *args: str, timeout: float = 30, argv0: list[str] | None = None) -> Any:
        base = argv0 or [sys.executable, "-m", "pushdeploy.monitor"]
        result = subprocess.run(
            [*base, *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=ENV,
            cwd=self.root,
        )
        return result

    def status(self) -> dict[str, Any]:
        result = self.cli("status", "--json")
        return dict(json.loads(result.stdout))

    def start(self, argv0: list[str] | None = None) -> dict[str, Any]:
        result = self.cli("start", argv0=argv0)
        status = self.status()
        if status.get("pid"):
            self.pgids.add(int(status["pid"]))
        assert result.returncode == 0, result.stderr + self.logs()
        assert result.stdout.startswith("monitor started"), result.stdout
        return status

    def run_foreground(self) -> subprocess.Popen[str]:
        """``run`` in a child process (what systemd does); returns once generation 1 serves."""
        with open(self.root / "shared" / "logs" / "monitor.log", "a") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "pushdeploy.monitor", "run", "--config", str(self.config)],
                env=ENV,
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
            )
        self.popen.append(process)
        self.pgids.add(process.pid)
        wait_for("the first generation", lambda: self.status().get("state") == "running")
        return process

    def logs(self) -> str:
        return "\n" + self.cli("logs", "-n", "40").stdout

    def teardown(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.cli("stop", "--timeout", "5", timeout=10)
        for pgid in self.pgids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        for process in self.popen:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    site = Site(tmp_path / "app", free_port())
    try:
        yield site
    finally:
        site.teardown()


def test_reloads_by_restart_file_sighup_and_command_switch_versions(site: Site) -> None:
    site.write_config()
    first = site.start()
    assert (first["generation"], first["release"]) == (1, str(site.root / "releases" / "A"))
    assert get(site.port)[0] == "A"
    assert "already running" in site.cli("start").stdout

    old = [w["pid"] for w in first["workers"]]
    site.switch("B")
    site.touch_restart()
    wait_for("version B after touching restart.txt", lambda: get(site.port)[0] == "B")
    # A new worker may answer before the whole generation is ready and recorded: wait for that.
    wait_for("generation 2 to take over", lambda: site.status()["generation"] == 2)
    status = site.status()
    assert (status["generation"], status["last_reload"]["trigger"]) == (2, "restart-file")
    assert status["last_reload"]["result"] == "ok"
    wait_for("the old workers to exit within grace", lambda: gone(old), timeout=4)

    site.switch("A")
    os.kill(status["pid"], signal.SIGHUP)
    wait_for("version A after SIGHUP", lambda: get(site.port)[0] == "A")
    wait_for("generation 3 to take over", lambda: site.status()["generation"] == 3)

    (site.root / "releases" / "B" / "tmp" / "restart.txt").unlink()  # only `reload` acts now
    site.switch("B")
    result = site.cli("reload")
    assert result.returncode == 0, result.stderr + site.logs()
    assert result.stdout == f"reloaded: generation 4, {site.root / 'releases' / 'B'}\n"
    wait_for("version B after reload", lambda: get(site.port)[0] == "B")
    text = site.cli("status").stdout
    assert "generation  4" in text
    assert "last reload ok" in text

    pids = [w["pid"] for w in site.status()["workers"]]
    result = site.cli("stop")
    assert result.returncode == 0, result.stderr
    assert gone(pids)
    assert site.cli("status").returncode == 3


def test_a_release_that_never_gets_ready_leaves_the_old_one_serving(site: Site) -> None:
    site.write_config()
    site.release("B", BROKEN="")
    site.run_foreground()
    before = site.status()
    version, _ = get(site.port)

    site.switch("B")
    result = site.cli("reload")

    assert result.returncode == 1
    assert "exited with status 1 before it was ready" in result.stderr
    assert "previous generation is still serving" in result.stderr
    after = site.status()
    assert after["last_reload"]["result"] == "failed"
    assert after["generation"] == before["generation"]
    assert after["workers"] == before["workers"]
    assert version == get(site.port)[0] == "A"
    wait_for("the failed generation to be gone", lambda: site.status()["retiring"] == [])
    assert "Traceback" not in (site.root / "shared" / "logs" / "monitor.log").read_text()


def test_a_slow_release_that_misses_the_ready_timeout_is_stopped(site: Site) -> None:
    site.write_config(ready={"http": "/health", "timeout": 1})
    site.release("B", SLOW_START="30")
    site.run_foreground()
    site.switch("B")
    result = site.cli("reload")
    assert result.returncode == 1
    assert "not ready after 1s" in result.stderr
    starting = site.status()
    assert get(site.port)[0] == "A"
    assert starting["starting"] == []


def test_a_killed_worker_is_respawned(site: Site) -> None:
    sock_path = site.root / "shared" / "app.sock"
    site.write_config(listen=[f"127.0.0.1:{site.port}", str(sock_path)])
    process = site.run_foreground()
    victim = site.status()["workers"][0]

    os.kill(victim["pid"], signal.SIGKILL)

    def respawned() -> bool:
        workers = site.status()["workers"]
        return victim["pid"] not in [w["pid"] for w in workers] and all(w["ready"] for w in workers)

    wait_for("a new worker in the slot", respawned)
    assert site.status()["respawns"] == 1
    assert get(site.port)[0] == "A"
    with socket.socket(socket.AF_UNIX) as unix:
        unix.settimeout(5)
        unix.connect(str(sock_path))
        unix.sendall(b"GET / HTTP/1.0\r\n\r\n")
        answer = b""
        for _ in range(100):  # headers and body may come in separate reads; HTTP/1.0 ends on close
            chunk = unix.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert b"\r\n\r\nA " in answer

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert not sock_path.exists()


def test_a_hung_app_is_reloaded_by_the_heartbeat(site: Site) -> None:
    site.release("A", HANG_AFTER="1.5")
    heartbeat = {"path": "/health", "interval": 0.3, "timeout": 0.5, "suppress": 1}
    site.write_config(heartbeat=heartbeat)
    site.run_foreground()
    hung = [w["pid"] for w in site.status()["workers"]]
    site.switch("B")  # no touch: only the heartbeat can bring B in

    wait_for("the heartbeat to reload into B", lambda: get(site.port, timeout=0.5)[0] == "B")
    last = site.status()["last_reload"]
    assert (last["trigger"], last["result"]) == ("heartbeat", "ok")
    wait_for("the hung workers to be killed after grace", lambda: gone(hung), timeout=5)


def cpus_of_every_thread(pid: int) -> list[set[int]]:
    return [os.sched_getaffinity(int(tid)) for tid in os.listdir(f"/proc/{pid}/task")]


def starting_pids(site: Site, count: int) -> list[int]:
    pids = [w["pid"] for w in site.status()["starting"]]
    return pids if len(pids) == count else []


MANY_CPUS = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 or more CPUs")


@MANY_CPUS
@pytest.mark.parametrize("confine", [True, False])
def test_a_reload_starts_on_half_the_cpus_and_serves_on_all(site: Site, confine: bool) -> None:
    site.write_config(ready={"http": "/health", "timeout": 20}, confine_reloads=confine)
    site.release("B", SLOW_START="1.5")
    site.run_foreground()
    full = os.sched_getaffinity(0)  # the monitor inherited it from this test
    first = [w["pid"] for w in site.status()["workers"]]
    assert [os.sched_getaffinity(pid) for pid in first] == [full, full]  # nothing to make room for

    site.switch("B")
    site.touch_restart()
    pids = wait_for("two starting workers", lambda: starting_pids(site, 2))
    on_start = affinity.startup_cpus(full) if confine else full
    assert [os.sched_getaffinity(pid) for pid in pids] == [on_start, on_start]

    wait_for("B to serve", lambda: [w["pid"] for w in site.status()["workers"]] == pids)
    for pid in pids:  # the app's threads too, started while it was confined
        threads = cpus_of_every_thread(pid)
        assert len(threads) > 1
        assert threads == [full] * len(threads)


@MANY_CPUS
def test_the_start_up_confinement_ends_at_half_the_ready_timeout(site: Site) -> None:
    site.write_config(ready={"http": "/health", "timeout": 3})
    site.release("B", SLOW_START="2.5")
    site.run_foreground()
    full = os.sched_getaffinity(0)
    site.switch("B")
    site.touch_restart()
    pids = wait_for("two starting workers", lambda: starting_pids(site, 2))
    assert os.sched_getaffinity(pids[0]) == affinity.startup_cpus(full)

    wait_for("the full set while starting", lambda: os.sched_getaffinity(pids[0]) == full, 2.5)
    assert starting_pids(site, 2) == pids
    wait_for("B to serve", lambda: get(site.port)[0] == "B")


@MANY_CPUS
def test_the_old_generation_drains_on_half_the_cpus(site: Site) -> None:
    site.release("A", HANG_AFTER="1")
    site.write_config(grace=5)
    site.run_foreground()
    full = os.sched_getaffinity(0)
    time.sleep(1.2)  # A hangs from now on: a request it takes keeps its worker draining
    with socket.create_connection(("127.0.0.1", site.port)) as hung:
        hung.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        site.switch("B")
        site.touch_restart()

        def one_left_retiring() -> list[int]:
            status = site.status()
            retiring = [w["pid"] for w in status["retiring"]]
            return retiring if status["generation"] == 2 and len(retiring) == 1 else []

        (pid,) = wait_for("the hung worker to drain alone", one_left_retiring)
        threads = cpus_of_every_thread(pid)
        assert threads == [affinity.startup_cpus(full)] * len(threads)
        assert [w["generation"] for w in site.status()["workers"]] == [2, 2]


def test_the_zipapp_runs_the_monitor_with_accept_readiness(site: Site) -> None:
    zipapp = site.root / ".pushdeploy" / "monitor.pyz"
    bundle.write_zipapp(str(zipapp))
    site.write_config(ready={"accept": True, "timeout": 5})
    argv0 = [sys.executable, "-I", str(zipapp)]
    status = site.start(argv0=argv0)
    assert status["workers"] and all(w["ready"] for w in status["workers"])
    assert get(site.port)[0] == "A"
    site.switch("B")
    assert site.cli("reload", argv0=argv0).returncode == 0
    wait_for("version B", lambda: get(site.port)[0] == "B")
    assert site.cli("stop", argv0=argv0).returncode == 0


@pytest.mark.skipif(
    shutil.which("systemd-socket-activate") is None, reason="no systemd-socket-activate"
)
def test_the_app_runs_unchanged_under_systemd_socket_activate(site: Site) -> None:
    port = site.port
    process = subprocess.Popen(
        ["systemd-socket-activate", "-l", f"127.0.0.1:{port}", sys.executable, "app.py"],
        cwd=site.root / "releases" / "A",
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    site.pgids.add(process.pid)
    site.popen.append(process)  # type: ignore[arg-type]
    version, _ = wait_for("the socket-activated app", lambda: get(port, timeout=5))
    assert version == "A"
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=10)


def test_the_example_app_sends_each_response_in_one_write(site: Site) -> None:
    # Headers and body in two writes make Nagle hold the body until the client's delayed ACK:
    # ~40 ms per request for a client that reads at once. One write arrives as one segment.
    site.write_config()
    site.run_foreground()
    with socket.create_connection(("127.0.0.1", site.port), timeout=5) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(5):
            conn.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            first = conn.recv(65536)  # what the first segment brought, read as soon as it came
            head, _, body = first.partition(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            assert len(body) == length > 0, first


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_node_example_reloads_under_the_monitor(site: Site) -> None:
    site.write_config(app="node server.js")
    site.run_foreground()
    assert get(site.port)[0] == "A"
    site.switch("B")
    assert site.cli("reload").returncode == 0, site.logs()
    wait_for("version B from node", lambda: get(site.port)[0] == "B")


def test_start_fails_clearly_when_the_port_is_taken(site: Site) -> None:
    site.write_config()
    with socket.create_server(("127.0.0.1", site.port)):
        result = site.cli("start")
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{site.port}" in result.stderr
    assert site.cli("status").returncode == 3
