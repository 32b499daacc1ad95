"""The command line: parse arguments, build the console, dispatch, map errors to exit statuses.

``main(argv) -> int`` is the one place where exceptions become exit statuses (errors.py draws the
tree). Options come before ENV (``argv.options_first`` moves those given after it); after ENV the
first word is a command of ``commands.TABLE``, which parses its own arguments, or else a ref::

    pushdeploy [options] ENV [command [its arguments] | REF]

Parsing happens twice: the global options here, then the command's own (``argv.resolve``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from pushdeploy import __version__
from pushdeploy.cli import commands
from pushdeploy.cli.argv import options_first, resolve
from pushdeploy.errors import ConfigError, ExitStatus, PushdeployError, UsageError, exit_statuses

if TYPE_CHECKING:
    from pushdeploy.config.environment import Environment
    from pushdeploy.console import Console as ConsoleType


def Console(stdout: TextIO, stderr: TextIO, **options: Any) -> ConsoleType:
    """A console.Console; rich (slow to import) is loaded with the first one, never for --help."""
    from pushdeploy.console import Console as RichConsole

    return RichConsole(stdout, stderr, **options)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> Parser:
    epilog = commands.help_epilog() + "\n\n" + exit_statuses()
    parser = Parser(
        prog="pushdeploy",
        usage="pushdeploy [options] ENV [command | ref]",
        description="TJ-style push deploys over SSH: atomic releases, revert, locks, strict host keys.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("env", nargs="?", metavar="ENV", help="section of deploy.conf (environment or project)")
    add("words", nargs=argparse.REMAINDER, metavar="command | ref", help=argparse.SUPPRESS)
    add(
        "-c",
        "--config",
        metavar="FILE",
        default="deploy.conf",
        help="config file (default: ./deploy.conf)",
    )
    add(
        "-C", "--chdir", metavar="DIR", help="work from DIR (config lookup and the local git check)"
    )
    add(
        "-H",
        "--host",
        dest="only",
        action="append",
        metavar="HOST",
        help="only this host (repeatable)",
    )
    add("-T", "--no-tests", action="store_true", help="skip the 'test' hook")
    add(
        "--force",
        action="store_true",
        help="deploy even with uncommitted or unpushed local changes, or when it is live already",
    )
    # set by `watch` for its deploys: they deploy the remote's ref, whatever this work tree holds
    add("--remote-only", action="store_true", help=argparse.SUPPRESS)
    add(
        "--dry-run",
        action="store_true",
        help="print the exact remote scripts per host; run nothing",
    )
    add("--wait", type=int, default=0, metavar="SECONDS", help="wait up to SECONDS for a held lock")
    add("--host-key", choices=["strict", "accept-new"], help="override the 'host-key' setting")
    add(
        "--batch",
        metavar="N|N%",
        help="override the 'batch' key: hosts that go live at once, each batch checked first",
    )
    add(
        "--json",
        action="store_true",
        help="print the result as one JSON object"
        " (deploy, revert, setup, exec, status, current, previous, list)",
    )
    add("--all", action="store_true", help="list: show pruned releases too (as 'list --all')")
    add("-v", "--verbose", action="count", default=0, help="show hook and build output live")
    add("-q", "--quiet", action="store_true", help="only results and errors")
    add(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="progress, errors and the local log: text, or one JSON object per event (stderr)",
    )
    add("--debug", action="store_true", help="show tracebacks")
    add("--version", action="version", version=f"pushdeploy {__version__}")
    add("--example-config", action="store_true", help="print the annotated example deploy.conf")
    return parser


def main(
    argv: list[str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: io.BufferedIOBase | None = None,
) -> int:
    """The command line; ``stdin`` is the input ``exec`` passes on (default: a piped stdin)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    given = sys.argv[1:] if argv is None else argv
    argv = options_first(given, option_strings(), commands.own_options, commands.FIRST_WORDS)
    answered = help_or_version(argv, stdout)
    if answered is not None:
        return answered
    stdin = stdin if stdin is not None else piped_stdin()
    with interrupted_by_sigterm():
        return run(argv, stdout, stderr, stdin)


def option_strings() -> dict[str, bool]:
    """Every global option string, and whether it takes a value (for ``options_first``)."""
    return {o: a.nargs != 0 for a in build_parser()._actions for o in a.option_strings}


def help_or_version(argv: list[str] | None, stdout: TextIO) -> int | None:
    """Answer --help or --version (status 0) before the commands, rich and Paramiko are imported,
    which keeps them fast; None when ``argv`` asks for anything else (``run`` parses it again)."""
    try:
        with contextlib.redirect_stdout(stdout):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    except UsageError:
        pass
    return None


@contextlib.contextmanager
def interrupted_by_sigterm() -> Iterator[None]:
    """SIGTERM stops pushdeploy as Ctrl-C does: the servers are asked to stop, then it says where
    each was left (from the main thread only: signal handlers can be set nowhere else)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run(
    argv: list[str] | None,
    stdout: TextIO,
    stderr: TextIO,
    stdin: io.BufferedIOBase | None,
) -> int:
    from pushdeploy import errors

    console = Console(stdout, stderr)
    debug = False
    args: argparse.Namespace | None = None
    status: int = ExitStatus.ERROR  # the run's exit, the last line of its local log (finally)
    try:
        try:
            with contextlib.redirect_stdout(stdout):
                args = build_parser().parse_args(argv)
                debug = args.debug
                # resolve's errors in the asked format; the command's own options come next
                console = Console(stdout, stderr, log_format=args.log_format)
                wanted = args.env and not args.example_config
                invoked = resolve(args) if wanted else None
        except SystemExit as exc:  # --help and --version, or a command's own --help
            return int(exc.code or 0)
        verbosity = 0 if args.quiet else 1 + args.verbose
        options = {"json_output": args.json, "log_format": args.log_format}  # `status --json` too
        console = Console(stdout, stderr, verbosity=verbosity, **options)
        if debug:  # Paramiko's own log (its transport thread's tracebacks too); silent otherwise
            from pushdeploy.transport.library import log_ssh_to

            log_ssh_to(console.debug)
            try:
                status = dispatch(args, console, stdin, invoked, argv)
            finally:
                log_ssh_to(None)
        else:
            status = dispatch(args, console, stdin, invoked, argv)
        stdout.flush()  # a closed pipe shows here, not at the interpreter's exit
        return status
    except PushdeployError as exc:
        command, prefix = errors.command_line(args, commands.NAMES, commands.ALIASES)
        message, hint = errors.fit_hint(exc, command, prefix)
        if exc.report is not None:  # what each host did, before the error line
            report = exc.report.ended(int(exc.status), message, hint)
            console.finish(report if report.command else report.renamed(command))
        console.error(message, hint, exc.details, exit_status=int(exc.status))
        return (status := int(exc.status))
    except (errors.OutputClosed, BrokenPipeError) as exc:
        # `pushdeploy ENV list | head -1`: the reader has what it wanted. Like `git log | head`,
        # stop quietly; exit 0 so a `set -o pipefail` script does not fail (README, decisions).
        # A transport's own broken pipes arrive as ConnectionError, so this one is ours.
        if debug:
            console.debug(f"stdout closed: {exc!r}")
        with contextlib.suppress(AttributeError, ValueError, OSError):  # a test's StringIO
            # Point the descriptor at /dev/null: the interpreter's last flush of what is still
            # buffered would otherwise print "Exception ignored ... BrokenPipeError".
            fd = stdout.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
        return (status := ExitStatus.OK)
    except KeyboardInterrupt:
        console.error(
            "interrupted",
            "nothing was changed by this run on a server it had not reached",
            exit_status=ExitStatus.INTERRUPTED,
        )
        return (status := ExitStatus.INTERRUPTED)
    except Exception as exc:
        if debug:
            console.debug(traceback.format_exc())
        console.error(
            f"internal error: {type(exc).__name__}: {exc}",
            "rerun with --debug and report it",
            exit_status=ExitStatus.ERROR,
        )
        return (status := ExitStatus.ERROR)
    finally:
        if console.log is not None:
            console.log.close(status)
            if console.log.problem:  # a write failed during the run (a full disk): the log is cut
                console.warn(console.log.problem)


def piped_stdin() -> io.BufferedIOBase | None:
    """This process's stdin when it is a pipe or a file; not a terminal (that is ``console``)."""
    try:
        if os.isatty(sys.stdin.fileno()):
            return None
    except (AttributeError, ValueError, OSError):  # closed, or replaced (a test runner's capture)
        return None
    return sys.stdin.buffer  # type: ignore[return-value]  # a BufferedReader


def dispatch(
    args: argparse.Namespace,
    console: ConsoleType,
    stdin: io.BufferedIOBase | None = None,
    invoked: tuple[commands.Command, argparse.Namespace] | None = None,
    argv: list[str] | None = None,
) -> int:
    """Run the command ``argv.resolve`` found (``invoked``) with its config loaded (unless
    the table says it needs none); its handler's result is the exit status."""
    from pushdeploy.transport import dialing_ahead

    if args.example_config:
        console.raw(commands.example_config())
        return ExitStatus.OK
    if invoked is None:
        raise UsageError("missing ENV: name a section of deploy.conf, e.g. 'pushdeploy production'")
    base = Path(args.chdir) if args.chdir else Path.cwd()
    if args.chdir and not base.is_dir():
        raise UsageError(f"-C {args.chdir}: no such directory")
    if args.wait < 0:
        raise UsageError("--wait takes 0 or more seconds")
    config_path = Path(args.config) if Path(args.config).is_absolute() else base / args.config
    command, opts = invoked
    env = environment(args, config_path, console) if command.needs_config else None
    if env is not None and command.logged and not args.dry_run:
        from pushdeploy.console.logbook import for_run

        console.log = for_run(env, command.name, argv or [], args.log_format, console.warn)
    with dialing_ahead(env) if command.connects and env and not args.dry_run else nullcontext():
        from pushdeploy.cli.invocation import Invocation  # imported while the hosts answer

        result: Any = command.load()(Invocation(args, opts, console, base, config_path, env, stdin))
    return int(getattr(result, "exit_status", result))  # an int, or a report.DeployReport


def environment(args: argparse.Namespace, config_path: Path, console: ConsoleType) -> Environment:
    """The section ENV of the config file, with the options that set keys applied; its secret
    values masked in all output from now on (and redacted out of it for ``--dry-run``)."""
    from pushdeploy.config import secrets
    from pushdeploy.config.deployconf import load

    # Options that set a key go through the file's own path (config.load's overrides), so
    # `--host-key accept-new ENV config host-key` says accept-new.
    overrides = {"host-key": args.host_key} if args.host_key else {}
    if args.batch is not None:
        overrides["batch"] = args.batch
    if args.no_tests:
        overrides["test"] = ""
    env = load(config_path, args.env, overrides, warn=console.warn)
    if args.only:  # -H picks among the hosts of the file: the same path once they are known
        hosts = [h.spec for h in env.hosts if h.spec in args.only or h.name in args.only]
        if len(hosts) != len(set(args.only)):
            known = ", ".join(h.spec for h in env.hosts)
            raise ConfigError(
                f"--host {' '.join(args.only)}: not among the hosts of [{env.name}]",
                f"hosts: {known}",
            )
        env = load(config_path, args.env, {**overrides, "host": " ".join(hosts)}, warn=console.warn)
    console.mask(secrets.mask_values(env))
    console.environment = env.name
    if args.dry_run:  # every printed script is built from it: no secret value reaches stdout
        env = secrets.redacted(env)
    return env
