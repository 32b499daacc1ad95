"""The one table of commands: each one's name, aliases, help, handler and its own arguments.

``pushdeploy --help``, alias resolution, the command word in error hints, which options
``argv.options_first`` may move, and dispatch all read ``TABLE``, so they cannot disagree. This
module stays cheap to import (argparse, no handler): ``--help`` reads it. A handler is named as
``"module:function"`` and imported when its command runs; it takes an ``Invocation`` and
returns an exit status, or an object with an ``exit_status`` (``report.DeployReport``).

After ENV the first word is a command (or an alias of one), or else a ref to deploy::

    pushdeploy [options] ENV [command [its own arguments] | REF]

A few commands may stand in ENV's place (``before_env``): ``init [ENV]``, ``update`` and
``doctor ENV`` (the same as ``ENV doctor``). ``exec`` takes every word after it as the command
line to run. ``argv.resolve`` reads the words after ENV with this table; arguments.py adds
each command's own arguments to its parser.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any, NamedTuple, NoReturn

from pushdeploy.cli.arguments import (
    deploy_arguments,
    init_arguments,
    log_arguments,
    monitor_arguments,
    revert_arguments,
    systemd_arguments,
)
from pushdeploy.errors import UsageError

Arguments = Callable[[argparse.ArgumentParser], object]


class CommandParser(argparse.ArgumentParser):
    """A command's own parser: a mistake is a usage error naming the command, with its usage."""

    def __init__(self, command: str, **kwargs: Any) -> None:
        super().__init__(allow_abbrev=False, **kwargs)
        self.command = command

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.command}: {message}", self.format_usage().strip())

    def parse_words(self, words: list[str]) -> argparse.Namespace:
        opts, extra = self.parse_known_args(words)
        if extra:
            what = "unknown option" if extra[0].startswith("-") else "unexpected argument"
            self.error(f"{what} {extra[0]!r}")
        return opts


class Command(NamedTuple):  # not a dataclass: importing dataclasses costs --help 7 ms
    """One command: ``handler`` is ``"module:function"``; ``arguments`` adds its own arguments
    to its parser; ``before_env``: it may stand in ENV's place; ``needs_config``: deploy.conf is
    loaded for it; ``every_word``: the words after it are all its own (a command line);
    ``dashed``: its positional is taken even when it starts with "-" (deploy's REF: a ref like
    ``--upload-pack=...`` is refused as a ref, exit 8, not read as an option); ``logged``: a run
    with its config loaded writes a local log (not ``config`` and ``log``, which only read);
    ``connects``: it connects to the hosts at once, so they are dialed ahead (transport)."""

    name: str
    help: str
    handler: str
    aliases: tuple[str, ...] = ()
    arguments: Arguments | None = None
    before_env: bool = False
    needs_config: bool = True
    every_word: bool = False
    dashed: bool = False
    logged: bool = True  # its runs are written to a local log (logbook.py)
    connects: bool = True

    @property
    def summary(self) -> str:
        """The line ``pushdeploy --help`` shows."""
        alias = f" (alias: {', '.join(self.aliases)})" if self.aliases else ""
        return self.help + alias

    def parser(self) -> CommandParser:
        place = "pushdeploy" if self.before_env and not self.needs_config else "pushdeploy ENV"
        # every_word: no option syntax at all ("\0" is in no argv), every word is the command's
        parser = CommandParser(
            self.name,
            prog=f"{place} {self.name}",
            description=self.summary,
            prefix_chars="\0" if self.every_word else "-",
            add_help=not self.every_word,
            epilog=f"'{self.name} -- --help' runs a command named --help"
            if self.every_word
            else None,
        )
        if self.arguments is not None:
            self.arguments(parser)
        return parser

    def parse(self, words: list[str]) -> argparse.Namespace:
        """This command's own arguments (a usage error, or SystemExit(0) for its ``--help``).

        A command that owns every word answers ``--help`` (or ``-h``) only when it is the one word
        after it; a leading ``--`` is dropped, so ``exec -- --help`` runs a command named --help."""
        if self.every_word and words in (["--help"], ["-h"]):
            self.parser().print_help()
            raise SystemExit(0)
        if self.every_word and words[:1] == ["--"]:
            words = words[1:]
        if self.dashed and words and words[0] not in {"-h", "--help"}:
            # "--" is argparse's own way to say: a positional, whatever it looks like
            words = ["--", *words]
        return self.parser().parse_words(words)

    def own_options(self) -> frozenset[str] | None:
        """The option strings that belong to this command after its word (None: every word)."""
        if self.every_word:
            return None
        return frozenset(o for action in self.parser()._actions for o in action.option_strings)

    def load(self) -> Callable[..., object]:
        module, function = self.handler.split(":")
        handler: Callable[..., object] = getattr(importlib.import_module(module), function)
        return handler


TABLE = (
    Command(
        "setup",
        "create the directories and the repo mirror on every host (idempotent)",
        "pushdeploy.cli.handlers:run_setup",
    ),
    Command(
        "deploy",
        "deploy REF (the same as giving REF alone; use it for a ref named like a command)",
        "pushdeploy.cli.handlers:run_deploy",
        arguments=deploy_arguments,
        dashed=True,
    ),
    Command(
        "revert",
        "go back N good deploys (default 1): a symlink switch, or a rebuild if pruned",
        "pushdeploy.cli.handlers:run_revert",
        arguments=revert_arguments,
    ),
    Command(
        "config",
        "print the effective config (secrets hidden), or one KEY's value",
        "pushdeploy.cli.handlers:run_config",
        arguments=lambda p: p.add_argument("key", nargs="?", metavar="KEY", help="only its value"),
        logged=False,
        connects=False,
    ),
    Command("current", "show the live release", "pushdeploy.cli.listing:run_current", ("curr",)),
    Command(
        "previous",
        "show the release 'revert' would go to",
        "pushdeploy.cli.listing:run_previous",
        ("prev",),
    ),
    Command(
        "list",
        "list the deployed releases, newest last (--all: pruned ones too)",
        "pushdeploy.cli.listing:run_list",
        arguments=lambda p: p.add_argument("--all", action="store_true", help="pruned ones too"),
    ),
    Command(
        "status",
        "per host: live release and SHA, lock, monitor, free disk; exit 9 on drift",
        "pushdeploy.cli.status:run_status",
        arguments=lambda p: p.add_argument("--json", action="store_true", help="one JSON object"),
    ),
    Command(
        "log",
        "show the local logs of recent runs: `log` lists them, `log N` prints one",
        "pushdeploy.cli.logs:run_log",
        arguments=log_arguments,
        logged=False,
        connects=False,
    ),
    Command(
        "exec",
        "run a command in the live release on every host",
        "pushdeploy.cli.passthrough:run_exec",
        ("run",),
        arguments=lambda p: p.add_argument("command", nargs=argparse.REMAINDER, metavar="CMD"),
        every_word=True,
    ),
    Command(
        "console",
        "open an interactive shell in the live release",
        "pushdeploy.cli.handlers:run_console",
    ),
    Command(
        "unlock",
        "remove a deploy lock left behind, and say who held it",
        "pushdeploy.cli.handlers:run_unlock",
    ),
    Command(
        "monitor",
        "status|start|stop|reload|logs of the process monitor (status --json, logs -n N)",
        "pushdeploy.cli.handlers:run_monitor",
        arguments=monitor_arguments,
    ),
    Command(
        "reload",
        "reload the app through the monitor with zero downtime; wait for the verdict",
        "pushdeploy.cli.handlers:run_reload",
    ),
    Command(
        "systemd",
        "print systemd units running the monitor (--socket: socket activation; --install)"
        " or, with --watch, the watcher",
        "pushdeploy.cli.watch:run_systemd",
        arguments=systemd_arguments,
        connects=False,  # only --install does
    ),
    Command(
        "watch",
        "deploy each change of the source: look every interval, or on a push webhook (--listen)",
        "pushdeploy.cli.watch:run_watch",
        arguments=lambda p: p.add_argument(
            "--listen", metavar="HOST:PORT", help="also take signed push webhooks here"
        ),
        logged=False,  # each deploy it runs keeps a log of its own
        connects=False,  # not until a change comes
    ),
    Command(
        "doctor",
        "check every host for what a deploy needs; changes nothing (also: doctor ENV)",
        "pushdeploy.cli.doctor:run_doctor",
        before_env=True,
    ),
    Command(
        "init",
        "write a starter deploy.conf: pushdeploy init [ENV] --host H --path P",
        "pushdeploy.cli.starter:run_init",
        ("mkconfig",),
        arguments=init_arguments,
        before_env=True,
        needs_config=False,
    ),
    Command(
        "update",
        "say how to upgrade pushdeploy (TJ's deploy updated itself; this is a package)",
        "pushdeploy.cli.handlers:run_update",
        before_env=True,
        needs_config=False,
    ),
)
NAMES = tuple(command.name for command in TABLE)
ALIASES = {alias: command.name for command in TABLE for alias in command.aliases}
BY_WORD = {word: c for c in TABLE for word in (c.name, *c.aliases)}
FIRST_WORDS = frozenset(word for word, command in BY_WORD.items() if command.before_env)


def own_options(word: str) -> frozenset[str] | None:
    """What belongs to the command ``word`` after it (``Command.own_options``); nothing for a ref."""
    command = BY_WORD.get(word)
    return frozenset() if command is None else command.own_options()


def help_epilog() -> str:
    """The commands, as ``pushdeploy --help`` lists them after the options."""
    return "commands:\n" + "\n".join(f"  {c.name:<10} {c.summary}" for c in TABLE)


def example_config() -> str:
    """The annotated example deploy.conf that ships in the package (``--example-config``)."""
    from importlib.resources import files  # not at the top: it costs --help 9 ms

    return files("pushdeploy.config").joinpath("deploy.conf.example").read_text(encoding="utf-8")
