"""Whether one worker serves: probes over its private health channel, and a deadline-bound check.

Two probes, both aimed at a single worker (its health socket, never the shared listeners that the
old generation also accepts on):

* ``http_probe``: ``GET path`` must answer 2xx or 3xx within the attempt's timeout.
* ``accept_probe``: for apps that do not speak HTTP. A TCP connect alone proves nothing (the
  kernel completes the handshake before the app calls accept), so after connecting the monitor
  polls its own copy of the listener: still readable means the connection waits in the accept
  queue (not ready); an empty queue means the worker accepted it.

``ReadinessCheck`` runs probes in a daemon thread until one passes, the deadline passes, or it is
cancelled; the supervisor polls ``result`` from its loop, so the loop never blocks on a worker.
The thread probes its own duplicate of the worker's listener, closed when the thread ends: the
worker's is closed as soon as the worker is reaped (a failed reload retires its generation while
checks may be mid-probe), and a closed socket's fd is -1 to ``poll`` (a ValueError that would end
the thread with a traceback) or, worse, a number already reused by another socket.
"""

from __future__ import annotations

import http.client
import select
import socket
import threading
import time


def http_probe(address: tuple[str, int], path: str, timeout: float) -> str | None:
    """``None`` when the worker answered ``path`` with 2xx/3xx, else what went wrong."""
    conn = http.client.HTTPConnection(address[0], address[1], timeout=max(timeout, 0.05))
    try:
        conn.request("GET", path, headers={"Connection": "close", "User-Agent": "pushdeploy"})
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as e:
        return f"GET {path}: {type(e).__name__}: {e}".rstrip(": ")
    finally:
        conn.close()
    if 200 <= response.status < 400:
        return None
    return f"GET {path}: HTTP {response.status}"


def accept_probe(listener: socket.socket, timeout: float, settle: float = 0.05) -> str | None:
    """``None`` when the worker accepted a connection on its health channel (see module doc)."""
    address = listener.getsockname()[:2]
    try:
        client = socket.create_connection(address, timeout=max(timeout, 0.05))
    except OSError as e:
        return f"connect: {e}"
    try:
        # Give the worker a moment to take the connection, then look whether it is still queued.
        # (poll, not a non-blocking accept: O_NONBLOCK would leak into the worker's shared fd.)
        time.sleep(min(settle, timeout))
        poller = select.poll()
        poller.register(listener.fileno(), select.POLLIN)
        if poller.poll(0):
            return "connection not accepted"
        return None
    finally:
        client.close()


class ReadinessCheck:
    """Probe one worker until it passes or ``timeout`` elapses, in a background thread.

    ``result`` is ``None`` while running, then ``"ready"`` or a reason string starting with
    ``"not ready"``. Attempts are spaced by ``interval`` (a poll, not a readiness sleep).
    """

    def __init__(
        self,
        *,
        address: tuple[str, int],
        listener: socket.socket,
        http_path: str | None,
        timeout: float,
        interval: float = 0.1,
        settle: float = 0.05,
    ) -> None:
        self._address = address
        self._listener = listener.dup()  # the thread's own: see the module doc
        self._settle = settle
        self._path = http_path
        self._deadline = time.monotonic() + timeout
        self._timeout = timeout
        self._interval = interval
        self._cancel = threading.Event()
        self.result: str | None = None
        self._thread = threading.Thread(target=self._run, name="readiness", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def _run(self) -> None:
        try:
            self._probe_until_done()
        finally:
            self._listener.close()

    def _probe_until_done(self) -> None:
        last = "no attempt"
        while not self._cancel.is_set():
            left = self._deadline - time.monotonic()
            if left <= 0:
                break
            attempt = min(left, 2.0)
            try:
                if self._path is not None:
                    error = http_probe(self._address, self._path, attempt)
                else:
                    error = accept_probe(self._listener, attempt, self._settle)
            except OSError as e:
                error = f"probe: {e}"
            if error is None:
                self.result = "ready"
                return
            last = error
            self._cancel.wait(self._interval)
        if self._cancel.is_set():
            self.result = "not ready: cancelled"
        else:
            self.result = f"not ready after {self._timeout:g}s ({last})"
