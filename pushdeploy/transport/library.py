"""The SSH library, Paramiko, loaded without the parts pushdeploy does not use.

Every transport module imports ``paramiko`` from here, never directly.

Paramiko's config module imports Invoke when it is installed, only to run ``Match exec`` lines
of ~/.ssh/config: 45 ms of the 110 ms Paramiko takes to import (Invoke brings asyncio and
unittest.mock), paid on every deploy. It is hidden while Paramiko loads, and loaded on demand by
``lookup`` when a ``Match exec`` line is evaluated.

Importing this module imports Paramiko; ``pushdeploy.transport`` itself stays cheap (it imports
this only when a host is contacted).

Paramiko's ``logging`` (tracebacks of its transport thread included) would reach stderr through
Python's last-resort handler; it is dropped unless ``log_ssh_to`` sends it somewhere (``--debug``).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

_HIDE = "paramiko" not in sys.modules and "invoke" not in sys.modules
if _HIDE:
    sys.modules["invoke"] = None  # type: ignore[assignment]  # "import invoke" fails: not loaded
try:
    import paramiko
    import paramiko.auth_handler
    import paramiko.config
finally:
    if _HIDE:
        del sys.modules["invoke"]

__all__ = ["log_ssh_to", "lookup", "paramiko"]


def lookup(config: paramiko.SSHConfig, name: str) -> Any:
    """``config.lookup(name)``, loading Invoke first if a ``Match exec`` line needs it.

    ImportError when Invoke is not installed and a ``Match exec`` line had to be evaluated.
    """
    try:
        return config.lookup(name)
    except ImportError:
        if paramiko.config.invoke is not None:
            raise
    import invoke  # a Match exec line: Paramiko runs it with Invoke

    paramiko.config.invoke = invoke
    return config.lookup(name)


_SSH_LOG = logging.getLogger("paramiko")
_SSH_LOG.addHandler(logging.NullHandler())
_SSH_LOG.propagate = False


class _CallbackHandler(logging.Handler):
    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__(logging.DEBUG)
        self.write = write

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write(f"ssh: {record.getMessage()}")
        except Exception:  # a log line must never break a connection
            self.handleError(record)


def log_ssh_to(write: Callable[[str], None] | None) -> None:
    """Send Paramiko's log to ``write`` (``--debug``: ``console.debug``), or drop it (None)."""
    for handler in [h for h in _SSH_LOG.handlers if isinstance(h, _CallbackHandler)]:
        _SSH_LOG.removeHandler(handler)
    if write is not None:
        _SSH_LOG.addHandler(_CallbackHandler(write))
    _SSH_LOG.setLevel(logging.DEBUG if write is not None else logging.NOTSET)
