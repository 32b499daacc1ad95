"""The command line: argv -> one command -> an exit status, one module per command or family.

``entry_point`` is the ``pushdeploy`` script's and ``python -m pushdeploy``'s way in (not named
``main``: importing the submodule main.py would rebind that name on this package).
It lives in this module, which imports nothing, so that a Ctrl-C or SIGTERM that comes while
Python still imports the rest (the first tenth of a second) ends as any later interrupt does:
one line, exit status 130, never a traceback. ``cli/main.py`` then takes over both signals.
"""

import signal
import sys


def entry_point() -> int:
    """Run the command line of ``sys.argv``; its exit status."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        from pushdeploy.cli import main as command_line

        return command_line.main()
    except KeyboardInterrupt:
        from pushdeploy.errors import ExitStatus

        sys.stderr.write("pushdeploy: error: interrupted\nhint: nothing was contacted yet\n")
        return ExitStatus.INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
