"""A worker's readiness check: real probes on a real health channel, in a thread that ends cleanly."""

from __future__ import annotations

import select
import socket
import threading
import time

import pytest

from pushdeploy.monitor import sockets
from pushdeploy.monitor.readiness import ReadinessCheck


def verdict(check: ReadinessCheck, within: float = 5.0) -> str:
    """The check's result, polled until it has one (bounded)."""
    deadline = time.monotonic() + within
    while check.result is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert check.result is not None, f"no verdict within {within} s"
    return check.result


def accept_check(health: socket.socket, settle: float = 0.05) -> ReadinessCheck:
    address = health.getsockname()[:2]
    return ReadinessCheck(
        address=address, listener=health, http_path=None, timeout=10, settle=settle
    )


def test_a_worker_that_accepts_on_its_health_channel_is_ready() -> None:
    health = sockets.bind_health()

    def worker() -> None:
        with health.accept()[0]:
            pass

    serving = threading.Thread(target=worker, daemon=True)
    serving.start()
    try:
        assert verdict(accept_check(health)) == "ready"
    finally:
        serving.join(timeout=5)
        health.close()


def test_a_health_socket_closed_mid_probe_ends_the_check_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed reload reaps its workers, closing their health sockets, while their checks probe:
    the check ends as cancelled, and nothing reaches the monitor's log as a traceback."""
    crashes: list[threading.ExceptHookArgs] = []
    monkeypatch.setattr(threading, "excepthook", crashes.append)
    health = sockets.bind_health()  # a worker that never accepts
    check = accept_check(health, settle=1.0)
    queued = select.poll()
    queued.register(health.fileno(), select.POLLIN)
    assert queued.poll(5000), "the probe never connected"  # it now waits `settle`, then looks
    health.close()  # as Worker.poll does when the worker has exited
    check.cancel()  # as Generation.reap does
    assert (verdict(check), [c.exc_value for c in crashes]) == ("not ready: cancelled", [])
