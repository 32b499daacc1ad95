"""What the command words do: the handlers of deploy, revert, setup, config and the service commands.

``commands.TABLE`` names each handler (``"pushdeploy.cli.handlers:run_deploy"``); dispatch imports
it when its command runs. A handler takes an ``Invocation`` and returns an exit status (or an
object with an ``exit_status``); it raises errors.py exceptions for failures and prints results
through the console. Commands with more to say keep their handlers in their own modules:
listing.py (current, previous, list), passthrough.py (exec), doctor.py, starter.py (init).
"""

from __future__ import annotations

import shlex

from pushdeploy import __version__, sources
from pushdeploy.cli.announcements import announced
from pushdeploy.cli.invocation import Invocation
from pushdeploy.cli.passthrough import stream
from pushdeploy.config import keys, secrets
from pushdeploy.config.keys import KEYS
from pushdeploy.engine import checkout, deploy, localhooks
from pushdeploy.engine.session import Session
from pushdeploy.errors import (
    ConfigError,
    ExitStatus,
    PushdeployError,
    RemoteCommandFailed,
    UsageError,
)
from pushdeploy.remote import protocol, readback, scripts, service
from pushdeploy.remote import shell as remote_shell
from pushdeploy.remote.release import check_ref
from pushdeploy.remote.report import DeployReport


def run_deploy(inv: Invocation) -> DeployReport:
    """Local pre hook, the deploy across the fleet (deploy.py), the local post hook: on success
    and on failure alike, with the report's facts."""
    ref = inv.env.source.ref if inv.opts.ref is None else inv.opts.ref
    if ref is not None:
        check_ref(ref)
    if not (inv.args.force or inv.args.dry_run or inv.args.remote_only):
        checkout.check(inv.base, inv.console.warn)
    source = sources.of(inv.env, inv.base)
    if not inv.args.dry_run:
        localhooks.before(inv.env, ref, inv.base, inv.console.info)
    source.prepare(inv.console, inv.base, ref, dry_run=inv.args.dry_run)
    try:
        report = announced(
            inv,
            "deployed",
            ref,
            lambda: inv.across(
                "deploy",
                f"deploy {ref or '(newest tag)'}",
                lambda s: deploy.deploy(s, ref),
                source,
            ),
        )
    except PushdeployError as exc:
        if exc.report is not None and not inv.args.dry_run:
            ended = exc.report.ended(int(exc.status), exc.message)
            localhooks.after(inv.env, ref, ended, inv.base, inv.console.info, inv.console.warn)
        raise
    if not inv.args.dry_run:
        localhooks.after(inv.env, ref, report, inv.base, inv.console.info, inv.console.warn)
    return report


def run_revert(inv: Invocation) -> DeployReport:
    steps: int = inv.opts.steps  # checked by its parser, before any connection
    return announced(
        inv,
        "reverted",
        None,
        lambda: inv.across("revert", f"revert {steps}", lambda s: deploy.revert(s, steps)),
    )


def run_setup(inv: Invocation) -> DeployReport:
    def setup(session: Session) -> DeployReport:
        return deploy.checked(
            session,
            "setup",
            session.everywhere(scripts.setup(inv.env, session.run, session.source)),
        )

    return inv.across("setup", "setup", setup)


def run_config(inv: Invocation) -> int:
    """The values a deploy would use, parsed, secrets hidden; a key left to ssh or the server is
    said so in a comment (in the listing) or left empty (``config KEY``)."""
    shown = secrets.redacted(inv.env)
    key = inv.opts.key
    if key is not None:
        if key not in KEYS:
            raise UsageError(f"config: unknown key {key!r}", "see deploy.conf.example for the keys")
        value = config_text(keys.value_of(shown, key))
        if value:
            inv.console.raw(value)
        return ExitStatus.OK
    for key, spec in KEYS.items():
        value = config_text(keys.value_of(shown, key)).replace("\n", "\n    ")
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
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        if isinstance(value[0][1], tuple):  # notify's targets: KIND ARGS, one a line
            return "\n".join(" ".join((kind, *args)) for kind, args in value)
        return " ".join(f"{name}={pair_value(text)}" for name, text in value)
    if isinstance(value, tuple):
        return " ".join(config_text(item) for item in value)
    return getattr(value, "spec", None) or str(value)


def run_unlock(inv: Invocation) -> int:
    outcomes = inv.everywhere(
        "unlock", lambda run: scripts.unlock(inv.env, sources.of(inv.env, inv.base))
    )
    for label, outcome in outcomes.items():
        said = readback.read(readback.Unlock, outcome)
        what = f"removed the lock held by {said.holder}" if said.removed else "no lock"
        inv.console.result(f"{label}: {what}")
    return ExitStatus.OK


def run_monitor(inv: Invocation) -> int:
    """``monitor ACTION``: ``--json`` counts for status (the global one too), ``-n`` for logs."""
    command = inv.opts.action
    if command not in service.MONITOR_COMMANDS:
        choices = "|".join(service.MONITOR_COMMANDS)
        raise UsageError(f"monitor: expected one of {choices}, e.g. pushdeploy ENV monitor status")
    if inv.opts.lines is not None and command != "logs":
        raise UsageError(f"monitor {command}: -n/--lines is for 'monitor logs'")
    extra = ["--json"] if inv.opts.json and command == "status" else []
    extra += ["--lines", str(inv.opts.lines)] if inv.opts.lines is not None else []
    return monitor(inv, command, extra)


def run_reload(inv: Invocation) -> int:
    return monitor(inv, "reload", [])


def monitor(inv: Invocation, command: str, extra: list[str]) -> int:
    """Run the monitor's own ``command`` on every host, its output passing through."""
    if not inv.env.monitor.app:
        raise UsageError(
            f"[{inv.env.name}] has no 'app' key, so there is no monitor",
            "set app and listen in deploy.conf, then run setup",
        )
    script = service.monitor_script(inv.env, command, extra)
    printed: set[str] = set()
    for label, status in stream(inv, f"monitor {command}", script, printed=printed).items():
        if status == protocol.MONITOR_NOT_RUNNING:
            raise RemoteCommandFailed(
                f"{label}: the monitor is not running",
                3,
                "start it with 'pushdeploy ENV monitor start' (or deploy)",
            )
        if status:
            raise RemoteCommandFailed(
                f"{label}: monitor {command} failed (status {status})",
                status,
                output=label in printed,
            )
    return ExitStatus.OK


def run_systemd(inv: Invocation) -> int:
    """``systemd``: the monitor's unit (``--socket``: socket activation's two), printed, or written
    on every host with ``--install``; each runs as the user deploys log in to its host as."""
    from pushdeploy.transport import login_users

    if not inv.env.monitor.app:
        raise UsageError(f"[{inv.env.name}] has no 'app' key: there is nothing to run as a service")
    socket: bool = inv.opts.socket
    users = login_users(inv.env)  # who owns the releases: never root unless deploys log in so
    try:
        units = {u: service.units(inv.env, socket=socket, user=u) for u in users.values()}
        env_file = service.environment_file(inv.env) if socket else None
        shown = service.environment_file(secrets.redacted(inv.env)) if socket else None
    except ValueError as exc:
        raise ConfigError(f"[{inv.env.name}] systemd: {exc}") from None
    if not inv.opts.install:
        for user, text_of in units.items():
            if len(units) > 1:
                hosts = ", ".join(label for label, u in users.items() if u == user)
                inv.console.raw(f"# for {hosts} (deploys log in as {user})\n")
            for name, text in text_of.items():
                inv.console.raw(f"# {name}\n{text}")
        if shown is not None:
            path, text = shown
            inv.console.raw(f"# {path} (mode 0600, written by --install; secrets hidden)\n{text}")
        return ExitStatus.OK
    source = sources.of(inv.env, inv.base)
    inv.each(
        "systemd --install",
        lambda run, label: scripts.wrap(
            inv.env,
            run,
            service.install_unit_steps(units[users[label]], env_file),
            source=source,
            libraries=[service.LIBRARY],
        ),
    )
    if not inv.args.dry_run:
        names = next(iter(units.values()))
        inv.console.result(f"installed {', '.join(names)} and reloaded systemd")
    return ExitStatus.OK


def run_console(inv: Invocation) -> int:
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


def run_update(inv: Invocation) -> int:
    """TJ's ``deploy update`` reinstalled the script; pushdeploy is a package: say how."""
    inv.console.result(UPGRADE)
    return ExitStatus.OK


UPGRADE = (
    f"pushdeploy {__version__} is a Python package: upgrade it with the tool that installed it,"
    " e.g. 'pipx upgrade pushdeploy' or 'pip install --upgrade pushdeploy'"
)
