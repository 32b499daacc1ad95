"""The command line: argv -> one command -> an exit status, one module per command or family.

``entry_point`` is the ``pushdeploy`` script's and ``python -m pushdeploy``'s way in (not named
``main``: importing the submodule main.py would rebind that name on this package).
It lives in this module, which imports nothing, so that a Ctrl-C or SIGTERM that comes while
Python still imports the rest (the first tenth of a second) ends as any later interrupt does:
one line, exit status 130, never a traceback. ``cli/main.py`` then takes over both signals.

Once the exit status is decided, both signals are ignored: a Ctrl-C that comes while the
interpreter shuts down would otherwise make it die of SIGINT (exit -2) after a run that ended,
or said it was interrupted. An interrupted run leaves at once (``os._exit``, its output flushed):
CPython remembers a KeyboardInterrupt that crossed its C code even when pushdeploy caught it, and
would turn exit 130 into death by SIGINT on the way out.
"""

import contextlib
import os
import signal
import sys

INTERRUPTED = 130  # errors.ExitStatus.INTERRUPTED, which this module cannot import up front


def entry_point() -> int:
    """Run the command line of ``sys.argv``; its exit status."""
    signal.signal(signal.SIGTERM, _interrupt)
    status = INTERRUPTED
    try:
        from pushdeploy.cli import main as command_line

        status = command_line.main()
    except KeyboardInterrupt:
        sys.stderr.write("pushdeploy: error: interrupted\nhint: nothing was contacted yet\n")
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if status == INTERRUPTED:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(status)
    return status


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
