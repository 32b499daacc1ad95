"""The SSH library, Paramiko, loaded without the parts pushdeploy does not use.

Every transport module imports ``paramiko`` from here, never directly.

Paramiko's config module imports Invoke when it is installed, only to run ``Match exec`` lines
of ~/.ssh/config: 45 ms of the 110 ms Paramiko takes to import (Invoke brings asyncio and
unittest.mock), paid on every deploy. It is hidden while Paramiko loads, and loaded on demand by
``lookup`` when a ``Match exec`` line is evaluated.

Importing this module imports Paramiko; ``pushdeploy.transport`` itself stays cheap (it imports
this only when a host is contacted).
"""

from __future__ import annotations

import sys
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

__all__ = ["lookup", "paramiko"]


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
