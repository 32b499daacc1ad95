"""The ``Invocation`` every command handler gets: one run of one command, and its sessions.

Handlers (commands.TABLE names them) take one and return an exit status or a report; through
it they open a ``Session`` per command (engine/session.py) with the source ``sources.of`` picks.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pushdeploy import sources
from pushdeploy.config.environment import Environment
from pushdeploy.console import Console
from pushdeploy.engine import deploy
from pushdeploy.engine.session import Session
from pushdeploy.remote import scripts
from pushdeploy.remote.protocol import Outcome
from pushdeploy.remote.report import DeployReport
from pushdeploy.sources import Source


@dataclass
class Invocation:
    """One run of one command: the global options (``args``: ``-C``, ``--dry-run``, ``env``...),
    the command's own arguments (``opts``, from its parser in commands.TABLE), the console, the
    directory pushdeploy works from and the config file's path, the loaded environment (none for
    a command that needs no config: init, update) and piped input (for exec)."""

    args: argparse.Namespace
    opts: argparse.Namespace
    console: Console
    base: Path
    config_path: Path
    loaded: Environment | None = None
    stdin: io.BufferedIOBase | None = None

    @property
    def env(self) -> Environment:
        if self.loaded is None:  # a bug: the table says this command needs no config
            raise AssertionError("this command was dispatched without its config")
        return self.loaded

    def everywhere(self, command: str, build: Callable[[scripts.Run], str]) -> dict[str, Outcome]:
        """Run the script ``build`` makes (given this run's lock claim) on every host; check it."""
        session = self.session(command)
        try:
            outcomes = session.everywhere(build(session.run))
            deploy.check_all(outcomes)
        finally:
            session.close()
        return outcomes

    def each(self, command: str, build: Callable[[scripts.Run, str], str]) -> dict[str, Outcome]:
        """Run on every host the script ``build`` makes for it (given this run's lock claim and
        the host's label); check them all."""
        session = self.session(command)
        try:
            outcomes = session.phase({h.spec: build(session.run, h.spec) for h in self.env.hosts})
            deploy.check_all(outcomes)
        finally:
            session.close()
        return outcomes

    def across(
        self,
        name: str,
        command: str,
        work: Callable[[Session], DeployReport],
        source: Source | None = None,
    ) -> DeployReport:
        """Run ``work`` in a session of its own with the console's progress across the hosts,
        ended by the report's summary (on failure, cli.run shows the error's report)."""
        self.console.start(name, [h.spec for h in self.env.hosts])
        session = self.session(command, source=source)
        try:
            report = work(session)
        finally:
            session.close()
        if not self.args.dry_run:
            self.console.finish(report)
        return report

    def session(
        self, command: str, env: Environment | None = None, source: Source | None = None
    ) -> Session:
        env = env or self.env
        return Session(
            env,
            self.console,
            source=source or sources.of(env, self.base),
            command=command,
            dry_run=self.args.dry_run,
            wait=self.args.wait,
            force=self.args.force,
        )
