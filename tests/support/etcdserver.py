"""A real etcd server on 127.0.0.1 for the tests of pull fleets (Debian's ``etcd-server``).

``EtcdServer(base)`` owns one single-member ``etcd`` process and everything it writes, inside
``base``: the data directory and a log. Lifecycle: ``start()`` picks free client and peer ports on
127.0.0.1 and waits until ``/health`` answers ``{"health":"true"}`` (a leader is elected), polling
against a deadline, never a fixed sleep; when it loses the race for a port it tries new ones.
``stop()`` terminates it and waits. A failure to start carries the tail of its log.

The process gets no ``ETCD_*`` variable of the developer's shell, and talks to nothing but
127.0.0.1. ``rollout(prefix)`` is the ``rollout`` value of deploy.conf that names it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.support.lifecycle import Started
from tests.support.sshd import HOST, free_port

READY_TIMEOUT = 30.0  # seconds etcd may take to elect itself and answer /health
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no http_proxy for 127.0.0.1


class EtcdServerError(RuntimeError):
    """etcd could not be started; the message ends with its log."""


def find_etcd() -> str | None:
    return shutil.which("etcd") or (os.access("/usr/bin/etcd", os.X_OK) and "/usr/bin/etcd") or None


def healthy(port: int) -> bool:
    try:
        with DIRECT.open(f"http://{HOST}:{port}/health", timeout=1.0) as answer:
            return bool(json.loads(answer.read(1000)).get("health") == "true")
    except (OSError, ValueError):
        return False


class EtcdServer(Started):
    def __init__(self, base: Path) -> None:
        self.base = base
        self.data = base / "data"
        self.log_path = base / "etcd.log"
        self.port = 0
        self.peer_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"{HOST}:{self.port}"

    def rollout(self, prefix: str) -> str:
        return f"etcd://{self.endpoint}/{prefix.strip('/')}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, attempts: int = 5) -> EtcdServer:
        etcd = find_etcd()
        if etcd is None:
            raise EtcdServerError("etcd is not installed (Debian: apt-get install etcd-server)")
        problem = ""
        for _ in range(attempts):
            problem = self._launch(etcd)
            if not problem:
                return self
            if "address already in use" not in self.log().lower():
                break
        tail = "\n".join(self.log().splitlines()[-40:])
        raise EtcdServerError(f"etcd did not start on {self.endpoint}: {problem}\n{tail}")

    def _launch(self, etcd: str) -> str:
        """Start etcd and wait until it is healthy; "" when it is, else what went wrong."""
        self.port, self.peer_port = free_port(), free_port()
        client, peer = f"http://{HOST}:{self.port}", f"http://{HOST}:{self.peer_port}"
        shutil.rmtree(self.data, ignore_errors=True)
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        # etcd-server 3.4 names itself and its cluster; 3.5+ take the same flags.
        argv = [etcd, "--name", "test", "--data-dir", str(self.data)]
        argv += ["--listen-client-urls", client, "--advertise-client-urls", client]
        argv += ["--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer]
        argv += ["--initial-cluster", f"test={peer}", "--initial-cluster-state", "new"]
        argv += ["--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn"]
        with self.log_path.open("ab") as log:
            log.write(f"--- starting etcd on {self.endpoint} ---\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=environ
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                return f"etcd exited with status {code}"
            if healthy(self.port):
                return ""
            time.sleep(0.05)
        self.stop()
        return f"not healthy within {READY_TIMEOUT:.0f}s"

    def __repr__(self) -> str:
        return f"<EtcdServer {self.endpoint} running={self.running}>"
