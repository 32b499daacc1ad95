"""The guard beside a fake script (prelude.sh ``guard``): its run's phase, and the client gone.

The real guard reads the client's input each second. "stop" (another host failed) or the end of
the input (Ctrl-C on the client, a lost connection) before the switch stops the script at once:
the running step ends, the half-built release is removed, nothing live changed (exit 80). The end
of the input after the switch and before the checks passed is let be: the script finishes its
checks on its own and switches back if one fails. After the checks passed (prune), it stops the
script, the release staying live (exit 80 too). fakescript.py asks ``stops`` at each step.
"""

from __future__ import annotations

import _thread
import signal
import threading

BUILD, LIVE, DONE = "build", "live", "done"  # prelude.sh PHASE (back is not modelled)


class Guard:
    """One fake run's phase (BUILD: nothing live changed; LIVE: switched, not yet checked; DONE:
    checked, or switched back) and what its guard saw of the client: when its input ended (in
    which phase), and whether the client said "stop" first."""

    def __init__(self) -> None:
        self.phase = BUILD
        self.ended = threading.Event()
        self.ended_in = ""  # the phase the input ended in: what the guard did about it
        self.why: str | None = None  # "stop": the client said another host failed

    def heard(self, word: str) -> None:
        """A word from the client: "stop" stops the script as the input's end does."""
        if word == "stop":
            self.why = word
            self.end()

    def end(self) -> None:
        """The client's input ended (or it said "stop"): the guard looks at the phase now."""
        if not self.ended.is_set():
            self.ended_in = self.phase
            self.ended.set()

    def stops(self) -> bool:
        """The guard has stopped the script (at its running step): the input ended before the
        switch, or after the checks passed."""
        return self.ended_in in {BUILD, DONE}

    def interrupt(self, wait: float) -> None:
        """The client's Ctrl-C while a step runs (``ctrl_c``); the step goes on until the client
        has ended this script's input (up to ``wait`` seconds), as a real step runs until its
        guard notices. Once only: a second Ctrl-C would make the client stop waiting for the
        servers."""
        if self.ended.is_set():
            return
        ctrl_c()
        self.ended.wait(wait)


def ctrl_c() -> None:
    """SIGINT to this process's main thread, as a terminal's Ctrl-C sends it: a real signal wakes
    the main thread's wait at once (``_thread.interrupt_main`` only takes effect at its next
    bytecode). Where SIGINT is not Python's (SIG_DFL, SIG_IGN), no signal is sent: it would end
    the process; ``interrupt_main`` then does nothing either."""
    if callable(signal.getsignal(signal.SIGINT)):
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
    else:
        _thread.interrupt_main()
