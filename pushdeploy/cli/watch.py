"""``pushdeploy ENV watch`` and ``systemd --watch``: the watcher (watch/) wired to the command line.

Each deploy the watcher makes is ``pushdeploy [the same options] ENV deploy`` run in-process by
``cli.main``: the normal path, with its own local log, its hooks and notifications, its locking,
checks and rollbacks, deploy.conf read afresh. With ``rollout = etcd://...`` it first waits for
its turn (watch/turns.py). ``run_systemd`` adds ``systemd --watch``: the watcher's own unit.
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO, cast

from pushdeploy.errors import ConfigError, ExitStatus, PushdeployError, UsageError
from pushdeploy.watch import looks
from pushdeploy.watch.watcher import Stopped, Watcher, stop, stopped_by_signals

if TYPE_CHECKING:
    from pushdeploy.cli.invocation import Invocation

STOP_MARGIN = 120  # seconds a stopped deploy gets beyond its checks' own time-outs (systemd)


def global_options(args: argparse.Namespace, leave: frozenset[str] = frozenset()) -> list[str]:
    """The global options ``args`` holds that differ from their defaults, as ``--name=value``
    words (so a value starting with "-" stays a value), except the dests in ``leave``."""
    from pushdeploy.cli.main import build_parser

    words: list[str] = []
    for action in build_parser()._actions:
        value = getattr(args, action.dest, action.default)
        if not action.option_strings or action.dest in leave or value in (action.default, None):
            continue
        flag = max(action.option_strings, key=len)
        if isinstance(value, bool):
            words.append(flag)
        elif isinstance(value, int) and action.nargs == 0:  # a count: -vv
            words += [flag] * value
        else:
            words += [f"{flag}={item}" for item in (value if isinstance(value, list) else [value])]
    return words


UNIT_LEAVES = frozenset({"config", "chdir", "dry_run", "help", "version", "example_config"})


def deploy_in_process(inv: Invocation) -> Callable[[], int]:
    """One deploy through ``cli.main``, as ``pushdeploy [options] ENV deploy`` would run it
    (what the remote has: no check of a local work tree). With ``rollout = etcd://...`` it waits
    for its turn first (turns.py) and records what it left live there, for ``status``."""
    from pushdeploy.cli import main as cli
    from pushdeploy.watch import turns

    coordinator = turns.for_env(inv.env)
    argv = [*global_options(inv.args), "--remote-only", inv.env.name, "deploy"]
    out, err = cast(TextIO, inv.console.out.file), cast(TextIO, inv.console.err.file)

    def once(argv: list[str], out: TextIO) -> int:
        # cli.main turns SIGTERM into a KeyboardInterrupt while it runs; SIGINT is one again.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            return cli.main(argv, stdout=out, stderr=err, stdin=io.BytesIO())
        finally:
            signal.signal(signal.SIGINT, previous)

    def deploy() -> int:
        if coordinator is None:
            return once(argv, out)
        said = io.StringIO()  # the --json report: what to record in etcd
        try:
            with coordinator.turn() as turn:
                status = once(["--json", *argv], said)
            report = json.loads(said.getvalue() or "{}")
            if turn.lost.is_set():
                inv.console.warn(f"watch: {turn.why}")
            coordinator.record_live(
                live_after(report),
                str(report.get("sha") or ""),
                str(report.get("outcome") or f"exit {status}"),
            )
        except PushdeployError as exc:  # etcd: no turn, so no deploy; the watcher backs off
            inv.console.warn(f"watch: {exc.message}")
            return int(exc.status)
        return status

    return deploy


def live_after(report: dict[str, object]) -> str:
    """The release live once the deploy of ``report`` (its --json) ended: the one it made or found
    live when it ended ok, else the one live before, which a failed deploy leaves (or puts back)."""
    if report.get("outcome") == "ok":
        return str(report.get("release") or "")
    hosts = report.get("hosts")
    first = hosts[0] if isinstance(hosts, list) and hosts and isinstance(hosts[0], dict) else {}
    return str(first.get("previous") or "")


def run_watch(inv: Invocation) -> int:
    """``pushdeploy ENV watch [--listen ADDR]``: until SIGTERM or SIGINT."""
    from pushdeploy.watch.listener import Listener, parse_address

    env, listen = inv.env, inv.opts.listen
    look, what = looks.of(env, inv.base)
    if listen and not env.watch.webhook_secret:
        raise ConfigError(
            f"[{env.name}] watch --listen needs webhook-secret: unsigned webhooks are refused",
            "set 'webhook-secret = $NAME' and NAME in your environment or secrets-file",
        )
    if not listen and env.watch.interval == 0:
        raise UsageError("watch: interval = 0 means webhooks only; give --listen HOST:PORT")
    wake, listener = threading.Event(), None
    with stopped_by_signals(stop):
        try:
            every = f"every {env.watch.interval} s" if env.watch.interval else "on pushes"
            inv.console.info(f"watch: looking at {what} {every}")
            if listen:
                listener = Listener(
                    parse_address(listen),
                    env.watch.webhook_secret or "",
                    env.source.ref,
                    wake.set,
                    inv.console.info,
                )
                host, port = listener.start()
                inv.console.info(f"watch: webhooks on http://{host}:{port}/")
            Watcher(look, deploy_in_process(inv), inv.console, env, wake).run()
        except Stopped as stopped:
            inv.console.info("watch: stopped")
            return stopped.status
        except KeyboardInterrupt:  # a signal between cli.main's handlers and ours
            return ExitStatus.INTERRUPTED
        finally:
            if listener is not None:
                listener.close()
    return ExitStatus.OK  # never reached: run() ends only by Stopped


def run_systemd(inv: Invocation) -> int:
    """``systemd``: with ``--watch`` the watcher's unit for this machine; else the monitor's."""
    from pushdeploy.cli import handlers
    from pushdeploy.remote import systemd

    if not inv.opts.watch:
        if inv.opts.listen:
            raise UsageError("systemd: --listen is for --watch (the watcher's unit)")
        return handlers.run_systemd(inv)
    if inv.opts.socket or inv.opts.install:
        raise UsageError(
            "systemd --watch prints the watcher's unit; it takes no --socket or --install",
            "install it on the machine that watches: save it as /etc/systemd/system/NAME.service",
        )
    env = inv.env
    argv = [sys.executable, "-m", "pushdeploy", f"--config={inv.config_path.resolve()}"]
    argv += [*global_options(inv.args, UNIT_LEAVES), env.name, "watch"]
    argv += [f"--listen={inv.opts.listen}"] if inv.opts.listen else []
    name = f"pushdeploy-{env.name}-watch"
    stop_seconds = (
        env.restart.health_timeout + env.monitor.ready_timeout + env.monitor.grace + STOP_MARGIN
    )
    try:
        text = systemd.render_watch_service(
            name,
            argv=argv,
            workdir=str(inv.base.resolve()),
            user=getpass.getuser(),
            stop_seconds=stop_seconds,
        )
    except ValueError as exc:
        raise ConfigError(f"[{env.name}] systemd --watch: {exc}") from None
    inv.console.raw(f"# {name}.service\n{text}")
    return ExitStatus.OK
