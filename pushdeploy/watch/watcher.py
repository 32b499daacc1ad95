"""``pushdeploy ENV watch``: look at the source each interval and deploy each change of it.

Lifecycle: the watcher looks at the source from THIS machine (looks.py: ``git ls-remote`` of
``repo`` for ``ref``, or an artifact URL's identity, download.py's SHA-256 or ETag), every
``interval`` seconds with ±10 % jitter, at once when ``--listen``'s webhooks.py hears a push of
the ref, and deploys when what it sees differs from what it last deployed. The first look always
deploys: what is live already is a no-op that says so (``skip_if_live`` in prelude.sh).

Each deploy is ``pushdeploy [the same options] ENV deploy`` run in-process by ``cli.main``: the
normal path, with its own local log, its hooks and notifications, its locking, checks and
rollbacks, deploy.conf read afresh. Its exit status decides what follows: 0 (deployed, or live
already) resets the wait; 7 (went live, failed, switched back) holds that identity back until
the source moves on, so a broken commit does not flap production; any other failure, like a
look that failed, warns and doubles the wait up to ``watch-backoff``; 130 (interrupted) ends it.

SIGTERM and SIGINT end it cleanly: while it waits or looks, at once (exit 0); during a deploy,
cli.py makes them a KeyboardInterrupt, the deploy stops or finishes through its own interrupt
path (session.py), and the watcher exits with the deploy's status (130). ``interval = 0``: no
polling after the first look, only webhooks. ``run_systemd`` adds ``systemd --watch``.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import io
import json
import random
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TextIO, cast

from pushdeploy import looks
from pushdeploy.errors import ConfigError, ExitStatus, PushdeployError, UsageError

if TYPE_CHECKING:
    from pushdeploy.config import Environment
    from pushdeploy.console import Console
    from pushdeploy.handlers import Invocation

JITTER = 0.10  # each wait is interval ±10 %, so a fleet of watchers does not look in step
STOP_MARGIN = 120  # seconds a stopped deploy gets beyond its checks' own time-outs (systemd)


class Stopped(BaseException):
    """SIGTERM or SIGINT while no deploy ran (``status`` 0), or a deploy interrupted (130).
    Not an Exception: no ``except Exception`` on the way may swallow it."""

    def __init__(self, status: int = ExitStatus.OK) -> None:
        super().__init__(status)
        self.status = status


def next_wait(interval: int, backoff: int, failures: int) -> float | None:
    """Seconds until the next look: ``interval`` (None when 0: webhooks only), or after
    ``failures`` failures in a row twice the wait of the one before, up to ``backoff`` (but
    never less than ``interval``)."""
    if failures == 0:
        return float(interval) if interval else None
    doubled = max(interval, 1) * 2 ** min(failures, 30)
    return float(max(interval, min(doubled, backoff)))


def jittered(seconds: float, rand: float) -> float:
    """``seconds`` moved by up to JITTER either way; ``rand`` is uniform in [0, 1)."""
    return seconds * (1 + JITTER * (2 * rand - 1))


def global_options(args: argparse.Namespace, leave: frozenset[str] = frozenset()) -> list[str]:
    """The global options ``args`` holds that differ from their defaults, as ``--name=value``
    words (so a value starting with "-" stays a value), except the dests in ``leave``."""
    from pushdeploy.cli import build_parser

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


@contextlib.contextmanager
def stopped_by_signals(handler: Callable[[int, object], None]) -> Iterator[None]:
    """SIGTERM and SIGINT call ``handler`` inside; the handlers before are restored after (main
    thread only: signal handlers can be set nowhere else)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, previous in before.items():
            signal.signal(sig, previous)


def stop(signum: int, frame: object) -> None:
    raise Stopped


class Watcher:
    """The loop: look, deploy on a change, wait (woken early by ``wake``). See the module."""

    def __init__(
        self,
        look: looks.Look,
        deploy: Callable[[], int],
        console: Console,
        env: Environment,
        wake: threading.Event,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.look, self.deploy, self.console = look, deploy, console
        self.wake, self.rand = wake, rand
        self.interval, self.backoff = env.interval, env.watch_backoff
        self.last: str | None = None  # the identity last deployed (None: deploy at the first look)
        self.held: str | None = None  # one that went live, failed and was switched back
        self.failures = 0

    def run(self) -> None:
        """Forever, until Stopped."""
        while True:
            wait = self.round()
            if wait is not None:
                wait = jittered(wait, self.rand())
            self.wake.wait(wait)
            self.wake.clear()  # pushes while looking or deploying: one more look, not one each

    def round(self) -> float | None:
        """One look, and a deploy when it changed; the wait until the next."""
        try:
            seen = self.look()
        except PushdeployError as exc:
            return self.failed(f"watch: {exc.message}")
        if seen in (self.last, self.held):
            return next_wait(self.interval, self.backoff, self.failures)
        shown = looks.short(seen)
        self.console.info(f"watch: the source is at {shown}: deploying")
        status = self.deploy()
        if status == ExitStatus.INTERRUPTED:
            raise Stopped(status)
        if status == ExitStatus.REVERTED:
            self.held = seen
            self.console.warn(
                f"watch: {shown} went live, failed and was switched back;"
                " it is not deployed again until the source moves on"
            )
        elif status != ExitStatus.OK:
            return self.failed(f"watch: the deploy of {shown} failed (exit {status})")
        else:
            self.last = seen
        self.failures = 0
        wait = next_wait(self.interval, self.backoff, 0)
        self.console.info(
            f"watch: next look in {wait:g} s" if wait else "watch: waiting for a push"
        )
        return wait

    def failed(self, message: str) -> float | None:
        self.failures += 1
        wait = next_wait(self.interval, self.backoff, self.failures)
        self.console.warn(f"{message}; next try in about {wait:g} s")
        return wait


def deploy_in_process(inv: Invocation) -> Callable[[], int]:
    """One deploy through ``cli.main``, as ``pushdeploy [options] ENV deploy`` would run it
    (what the remote has: no check of a local work tree). With ``rollout = etcd://...`` it waits
    for its turn first (turns.py) and records what it left live there, for ``status``."""
    from pushdeploy import cli, turns

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
                str(report.get("release") or ""),
                str(report.get("sha") or ""),
                str(report.get("outcome") or f"exit {status}"),
            )
        except PushdeployError as exc:  # etcd: no turn, so no deploy; the watcher backs off
            inv.console.warn(f"watch: {exc.message}")
            return int(exc.status)
        return status

    return deploy


def run_watch(inv: Invocation) -> int:
    """``pushdeploy ENV watch [--listen ADDR]``: until SIGTERM or SIGINT."""
    from pushdeploy import webhooks

    env, listen = inv.env, inv.opts.listen
    look, what = looks.of(env, inv.base)
    if listen and not env.webhook_secret:
        raise ConfigError(
            f"[{env.name}] watch --listen needs webhook-secret: unsigned webhooks are refused",
            "set 'webhook-secret = $NAME' and NAME in your environment or secrets-file",
        )
    if not listen and env.interval == 0:
        raise UsageError("watch: interval = 0 means webhooks only; give --listen HOST:PORT")
    wake, listener = threading.Event(), None
    with stopped_by_signals(stop):
        try:
            every = f"every {env.interval} s" if env.interval else "on pushes"
            inv.console.info(f"watch: looking at {what} {every}")
            if listen:
                listener = webhooks.Listener(
                    webhooks.parse_address(listen),
                    env.webhook_secret or "",
                    env.ref,
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
    from pushdeploy import handlers, systemd

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
    stop_seconds = env.health_timeout + env.ready_timeout + env.grace + STOP_MARGIN
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
