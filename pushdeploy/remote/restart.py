"""The restart strategies: one object per kind of ``restart`` (touch, command, monitor), picked once.

``of(env)`` picks the strategy from deploy.conf's ``restart`` key; nothing else branches on the
kind. Each strategy owns both halves of a restart, as calls of restart.sh (pure: it returns text):

* ``go_live_steps``  the body lines that put the release ID into service after the switch and
                     post-deploy (activation.go_live), switching back when they fail;
* ``switch_back``    the call that restarts PREV after a switch back: the header's
                     ``RESTART_BACK``, which prelude.sh's ``restart_back`` runs (scripts.wrap);
* ``setup_steps``    what setup installs for it: the monitor, wherever it runs the app (``app``),
                     whatever restarts it (with touch, the monitor watches the restart file);
* ``libraries``      the .sh text those calls need, carried by every script that runs user
                     commands (scripts.wrap);
* ``command``        the user's shell text it runs, if any (doctor.py looks for its tools).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from importlib.resources import files
from typing import Protocol

from pushdeploy.config.environment import Environment
from pushdeploy.remote import service
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath

LIBRARY = files("pushdeploy.remote").joinpath("restart.sh").read_text(encoding="utf-8")
q = shlex.quote
# Lines of the monitor's log and of the app's shown when a restart by the monitor fails: with
# their two headers they fit the last lines a failure shows (protocol.Outcome.tail).
LOG_LINES = 6


class Restart(Protocol):
    """How the release ID comes into service after the switch, and PREV after a switch back."""

    @property
    def command(self) -> str | None: ...

    def go_live_steps(self) -> list[str]: ...

    def switch_back(self) -> str: ...

    def setup_steps(self) -> list[str]: ...

    def libraries(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Strategy:
    """What the strategies share: setup installs the monitor wherever it runs the app (``app``),
    whatever restarts it, and the scripts then carry service.sh beside restart.sh."""

    env: Environment

    @property
    def command(self) -> str | None:
        return None

    def setup_steps(self) -> list[str]:
        return service.install_steps(self.env) if self.env.monitor.app else []

    def libraries(self) -> tuple[str, ...]:
        return (LIBRARY, service.LIBRARY) if self.env.monitor.app else (LIBRARY,)


@dataclass(frozen=True)
class Touch(Strategy):
    """``restart = touch`` (the default): touch the release's restart file, which the app (or the
    monitor running it) watches."""

    def go_live_steps(self) -> list[str]:
        return ["restart_by_touch"]

    def switch_back(self) -> str:
        return "restart_back_by_touch"


@dataclass(frozen=True)
class Command(Strategy):
    """``restart = COMMAND``: run the user's command in the release, as the ``restart`` hook."""

    @property
    def command(self) -> str | None:
        return self.env.restart.strategy

    def go_live_steps(self) -> list[str]:
        return [f'hook restart "$RELEASES/$ID" {q(self.env.restart.strategy)} back']

    def switch_back(self) -> str:
        return f"restart_back_by_command {q(self.env.restart.strategy)}"


@dataclass(frozen=True)
class Monitor(Strategy):
    """``restart = monitor`` (``app`` is set: config/keys.py): write monitor.json, reload the
    monitor into the release and wait for its verdict; start it when it is not running. When
    that fails, the last lines of its log and of the app's come before the switch back."""

    def go_live_steps(self) -> list[str]:
        start_timeout = self.env.monitor.ready_timeout + 10
        return [
            "step restart",
            service.write_settings_step(self.env),
            f"restart_by_monitor {self.monitor()} {self.reload_wait()} {start_timeout} {LOG_LINES}",
        ]

    def switch_back(self) -> str:
        return f"restart_back_by_monitor {self.monitor()} {self.reload_wait()}"

    def monitor(self) -> str:
        """ZIPAPP CONFIG: the monitor's program and its settings, quoted."""
        layout = Layout(self.env.path)
        return f"{qpath(layout.monitor_zipapp)} {qpath(layout.monitor_config)}"

    def reload_wait(self) -> int:
        """Long enough for a generation to get ready and the old one to drain."""
        return self.env.monitor.ready_timeout + self.env.monitor.grace + 10


KINDS: dict[str, type[Touch] | type[Monitor]] = {"touch": Touch, "monitor": Monitor}


def of(env: Environment) -> Restart:
    """The strategy of ``env``'s ``restart``: touch, monitor, or any other text as a command."""
    return KINDS.get(env.restart.strategy, Command)(env)
