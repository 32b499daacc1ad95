"""What the test servers share: one process, stopped by SIGTERM (then SIGKILL), and ``with``."""

from __future__ import annotations

import signal
import subprocess
from types import TracebackType
from typing import Any, Self


class Started:
    """A server whose ``start()`` sets ``_proc``; ``with Server(...) as s`` starts it unless it
    runs, and stops it on the way out. ``stop`` gives it ``STOP_TIMEOUT`` s after SIGTERM."""

    STOP_TIMEOUT = 10.0
    _proc: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        """Terminate the process and wait for it (killed if it outstays STOP_TIMEOUT)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=self.STOP_TIMEOUT)

    def __enter__(self) -> Self:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
