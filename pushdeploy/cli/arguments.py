"""The command words' own arguments: what each adds to its parser in commands.TABLE, and checks.

Cheap to import (argparse, errors) as commands.py is: ``--help`` reads the table. A converter's
mistake is a usage error naming the command (exit 2), or for a hostile REF, exit 8.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pushdeploy.errors import UsageError


def positive(expected: str, hint: str | None = None) -> Callable[[str], int]:
    """An argument converter: a whole number of at least 1, written plainly (int() alone would
    take "-1", "+1" or " 1"); else the usage error "``expected``, got 'WORD'"."""

    def convert(word: str) -> int:
        if not (word.isascii() and word.isdigit()) or int(word) < 1:
            raise UsageError(f"{expected}, got {word!r}", hint)
        return int(word)

    return convert


def revert_arguments(parser: argparse.ArgumentParser) -> None:
    steps = positive(
        "revert: expected a number of good deploys to go back (1 or more)",
        "'pushdeploy ENV revert' goes back one; 'pushdeploy ENV list' shows the releases",
    )
    parser.add_argument("steps", nargs="?", type=steps, default=1, metavar="N")


def log_arguments(parser: argparse.ArgumentParser) -> None:
    number = positive(
        "log: expected the number of a log (1 is the latest)",
        "'pushdeploy ENV log' lists the recent logs with their numbers",
    )
    parser.add_argument("n", nargs="?", type=number, metavar="N", help="print log N")


def monitor_arguments(parser: argparse.ArgumentParser) -> None:
    from pushdeploy.remote.service import MONITOR_COMMANDS

    parser.add_argument("action", nargs="?", metavar="|".join(MONITOR_COMMANDS))
    parser.add_argument("--json", action="store_true", help="status: as JSON")
    lines = positive("monitor logs: expected a number of lines (1 or more)")
    parser.add_argument("-n", "--lines", type=lines, metavar="N", help="logs: lines per log")


def systemd_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--socket", action="store_true", help="socket activation, no monitor")
    parser.add_argument("--install", action="store_true", help="write the units and reload")
    parser.add_argument("--watch", action="store_true", help="the unit of `watch`, here")
    parser.add_argument("--listen", metavar="HOST:PORT", help="with --watch: its --listen")


def init_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env", nargs="?", metavar="ENV", help="the section (default: production)")
    parser.add_argument("--host", action="append", default=[], help="repeatable")
    parser.add_argument("--path", help="the deploy root on the servers")
    parser.add_argument("--repo", help="default: the checkout's origin")
    parser.add_argument("--ref", help="default: the checkout's branch")
    for name in ("user", "port", "key"):
        parser.add_argument(f"--{name}", help="default: ~/.ssh/config")
    parser.add_argument("--force", action="store_true", help="replace an existing file")


def deploy_arguments(parser: argparse.ArgumentParser) -> None:
    # A hostile REF is refused (exit 8) as it is parsed: before any host is dialed (cli.dispatch).
    parser.add_argument("ref", nargs="?", metavar="REF", type=checked_ref, help="default: ref")


def checked_ref(ref: str) -> str:
    from pushdeploy.remote.release import check_ref

    return check_ref(ref)
