"""What each command word does: one small handler per command, wiring config, session and output.

Handlers take an ``Invocation`` and return an exit status; they raise errors.py exceptions for
failures and print results through the console. Reading commands (current, previous, list) share
one read-back script (scripts.status) and the pure history module.
"""

from __future__ import annotations

import argparse
import io
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from pushdeploy import (
    __version__,
    checkout,
    deploy,
    listing,
    protocol,
    remote_shell,
    scripts,
    secrets,
    service,
)
from pushdeploy.config import Environment
from pushdeploy.console import Console
from pushdeploy.errors import ConfigError, ExitStatus, RemoteCommandFailed, UsageError
from pushdeploy.keys import KEYS
from pushdeploy.passthrough import run_exec, stream
from pushdeploy.protocol import Outcome
from pushdeploy.release import check_ref
from pushdeploy.session import Session


@dataclass
class Invocation:
    args: argparse.Namespace
    console: Console
    env: Environment
    base: Path
    words: list[str]
    stdin: io.BufferedIOBase | None = None  # piped input, for exec

    def no_more_words(self, command: str, allowed: int = 0) -> None:
        if len(self.words) > allowed:
            raise UsageError(f"{command}: unexpected argument {self.words[allowed]!r}")

    def everywhere(self, command: str, build: Callable[[scripts.Run], str]) -> dict[str, Outcome]:
        """Run the script ``build`` makes (given this run's lock claim) on every host; check it."""
        session = self.session(command)
        try:
            outcomes = session.everywhere(build(session.run))
            deploy.check_all(outcomes)
        finally:
            session.close()
        return outcomes

    def session(self, command: str, env: Environment | None = None) -> Session:
        return Session(
            env or self.env,
            self.console,
            command=command,
            dry_run=self.args.dry_run,
            wait=self.args.wait,
        )


def example_config() -> str:
    return files("pushdeploy").joinpath("deploy.conf.example").read_text(encoding="utf-8")


def run_deploy(inv: Invocation) -> int:
    inv.no_more_words("deploy", 1)
    ref = inv.words[0] if inv.words else inv.env.ref
    if ref is not None:
        check_ref(ref)
    if not inv.args.force and not inv.args.dry_run:
        checkout.check(inv.base, inv.console.warn)
    session = inv.session(f"deploy {ref or '(newest tag)'}")
    try:
        prepared = deploy.deploy(session, ref)
    finally:
        session.close()
    if not inv.args.dry_run:
        first = next(iter(prepared.values())).values
        hosts = ", ".join(prepared)
        inv.console.result(
            f"deployed {first['ref']} ({first['sha'][:7]}) as {first['release']} to {hosts}"
        )
    return ExitStatus.OK


def run_revert(inv: Invocation) -> int:
    inv.no_more_words("revert", 1)
    word = inv.words[0] if inv.words else "1"
    # Checked here, before any connection: int() alone would take "-1", "+1" or " 1".
    if not (word.isascii() and word.isdigit()) or int(word) < 1:
        raise UsageError(
            f"revert: expected a number of good deploys to go back (1 or more), got {word!r}",
            "'pushdeploy ENV revert' goes back one; 'pushdeploy ENV list' shows the releases",
        )
    steps = int(word)
    session = inv.session(f"revert {steps}")
    try:
        targets = deploy.revert(session, steps)
    finally:
        session.close()
    for label, entry in targets.items():
        inv.console.result(f"reverted {label} to {entry.release} ({entry.ref}, {entry.sha[:7]})")
    return ExitStatus.OK


def run_setup(inv: Invocation) -> int:
    inv.no_more_words("setup")
    inv.everywhere("setup", lambda run: scripts.setup(inv.env, run))
    if not inv.args.dry_run:
        inv.console.result(f"set up {inv.env.path} on {', '.join(h.spec for h in inv.env.hosts)}")
    return ExitStatus.OK


def run_config(inv: Invocation) -> int:
    """The values a deploy would use, parsed, secrets hidden; a key left to ssh or the server is
    said so in a comment (in the listing) or left empty (``config KEY``)."""
    inv.no_more_words("config", 1)
    shown = secrets.redacted(inv.env)
    if inv.words:
        key = inv.words[0]
        if key not in KEYS or key == "inherit":
            raise UsageError(f"config: unknown key {key!r}", "see deploy.conf.example for the keys")
        value = config_text(getattr(shown, KEYS[key].attr))
        if value:
            inv.console.raw(value)
        return ExitStatus.OK
    for key, spec in KEYS.items():
        if key == "inherit":
            continue
        value = config_text(getattr(shown, spec.attr)).replace("\n", "\n    ")
        if key in inv.env.settings:
            inv.console.raw(f"{key} = {value}")
        elif value or spec.unset:
            inv.console.raw(f"# {key} = {value or f'({spec.unset})'}")
    return ExitStatus.OK


def pair_value(value: str) -> str:
    return value if value == secrets.HIDDEN else shlex.quote(value)


def config_text(value: object) -> str:
    """A parsed value as deploy.conf would write it: numbers, yes/no, words, NAME=value pairs."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return " ".join(
            f"{item[0]}={pair_value(item[1])}" if isinstance(item, tuple) else config_text(item)
            for item in value
        )
    return getattr(value, "spec", None) or str(value)


def run_unlock(inv: Invocation) -> int:
    inv.no_more_words("unlock")
    outcomes = inv.everywhere("unlock", lambda run: scripts.unlock(inv.env))
    for label, outcome in outcomes.items():
        removed = outcome.values.get("removed") == "yes"
        holder = outcome.values.get("holder", "")
        inv.console.result(
            f"{label}: removed the lock held by {holder}" if removed else f"{label}: no lock"
        )
    return ExitStatus.OK


def run_monitor(inv: Invocation) -> int:
    if not inv.words or inv.words[0] not in service.MONITOR_COMMANDS:
        choices = "|".join(service.MONITOR_COMMANDS)
        raise UsageError(f"monitor: expected one of {choices}, e.g. pushdeploy ENV monitor status")
    if not inv.env.app:
        raise UsageError(
            f"[{inv.env.name}] has no 'app' key, so there is no monitor",
            "set app and listen in deploy.conf, then run setup",
        )
    command, extra = inv.words[0], inv.words[1:]
    allowed = {"status": {"--json"}, "logs": {"-n", "--lines"}}.get(command, set())
    for word in extra:
        if word.startswith("-") and word not in allowed:
            raise UsageError(f"monitor {command}: unknown option {word!r}")
    if inv.args.json and command == "status" and "--json" not in extra:
        extra = [*extra, "--json"]
    script = service.monitor_script(inv.env, command, extra)
    for label, status in stream(inv, f"monitor {command}", script).items():
        if status == protocol.MONITOR_NOT_RUNNING:
            raise RemoteCommandFailed(
                f"{label}: the monitor is not running",
                3,
                "start it with 'pushdeploy ENV monitor start' (or deploy)",
            )
        if status:
            raise RemoteCommandFailed(
                f"{label}: monitor {command} failed (status {status})", status
            )
    return ExitStatus.OK


def run_reload(inv: Invocation) -> int:
    inv.no_more_words("reload")
    inv.words = ["reload"]
    return run_monitor(inv)


def run_systemd(inv: Invocation) -> int:
    unknown = [w for w in inv.words if w not in {"--socket", "--install"}]
    if unknown:
        raise UsageError(f"systemd: unknown argument {unknown[0]!r} (use --socket, --install)")
    if not inv.env.app:
        raise UsageError(f"[{inv.env.name}] has no 'app' key: there is nothing to run as a service")
    socket = "--socket" in inv.words
    try:
        units = service.units(inv.env, socket=socket)
        env_file = service.environment_file(inv.env) if socket else None
        shown = service.environment_file(secrets.redacted(inv.env)) if socket else None
    except ValueError as exc:
        raise ConfigError(f"[{inv.env.name}] systemd: {exc}") from None
    if "--install" not in inv.words:
        for name, text in units.items():
            inv.console.raw(f"# {name}\n{text}")
        if shown is not None:
            path, text = shown
            inv.console.raw(f"# {path} (mode 0600, written by --install; secrets hidden)\n{text}")
        return ExitStatus.OK
    steps = service.install_unit_steps(units, env_file)
    inv.everywhere("systemd --install", lambda run: scripts.wrap(inv.env, run, steps))
    if not inv.args.dry_run:
        inv.console.result(f"installed {', '.join(units)} and reloaded systemd")
    return ExitStatus.OK


def run_console(inv: Invocation) -> int:
    inv.no_more_words("console")
    if len(inv.env.hosts) > 1:
        raise UsageError("console opens one shell: pick a host with -H HOST")
    session = inv.session("console")
    token = session.run.token
    try:
        label, transport = next(iter(session.transports().items()))
        said: list[str] = []
        prepared = transport.run(
            remote_shell.console_prepare(inv.env, token), lambda stream, line: said.append(line)
        )
        if prepared:
            why = said[-1] if said else f"status {prepared}"
            raise RemoteCommandFailed(f"{label}: cannot open the console: {why}", prepared)
        status = transport.interactive(remote_shell.console_command(inv.env, token))
    finally:
        session.close()
    if status:
        raise RemoteCommandFailed(f"the console shell exited with status {status}", status)
    return ExitStatus.OK


def run_doctor(inv: Invocation) -> int:
    from pushdeploy import doctor

    inv.no_more_words("doctor")
    session = inv.session("doctor")
    try:
        outcomes = session.everywhere(doctor.script(inv.env, session.run))
    finally:
        session.close()
    return ExitStatus.OK if inv.args.dry_run else doctor.show(inv.env, outcomes, inv.console)


def run_update(inv: Invocation) -> int:
    """TJ's ``deploy update`` reinstalled the script; pushdeploy is a package: say how."""
    inv.no_more_words("update")
    inv.console.result(UPGRADE)
    return ExitStatus.OK


UPGRADE = (
    f"pushdeploy {__version__} is a Python package: upgrade it with the tool that installed it,"
    " e.g. 'pipx upgrade pushdeploy' or 'pip install --upgrade pushdeploy'"
)


HANDLERS: dict[str, Callable[[Invocation], int]] = {
    "deploy": run_deploy,
    "update": run_update,
    "revert": run_revert,
    "setup": run_setup,
    "config": run_config,
    "current": listing.run_current,
    "previous": listing.run_previous,
    "list": listing.run_list,
    "unlock": run_unlock,
    "exec": run_exec,
    "console": run_console,
    "monitor": run_monitor,
    "reload": run_reload,
    "systemd": run_systemd,
    "doctor": run_doctor,
}
