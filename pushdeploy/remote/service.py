"""The app as a service on the server: monitor.json, the monitor's install steps and its commands.

deploy.conf's monitor keys become monitor.json; setup installs the monitor zipapp; the commands
drive it (status, start, stop, reload, logs) and ``restart = monitor`` reloads through it.

Pure: it returns script text and data. The zipapp is built locally (monitor/bundle.py, byte for
byte reproducible) and travels inside the setup script as base64, so setup needs no SFTP and
works the same over SSH and with ``host = local``; it is rewritten only when its digest changed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from typing import Any

from pushdeploy.config.environment import Environment
from pushdeploy.config.values import parse_heartbeat
from pushdeploy.monitor import bundle
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath
from pushdeploy.remote.protocol import MONITOR_NOT_RUNNING

q = shlex.quote
MONITOR_COMMANDS = ("status", "start", "stop", "reload", "logs")


def monitor_settings(env: Environment) -> dict[str, Any]:
    """monitor.json for ``env`` (schema: pushdeploy/monitor/settings.py); paths relative to it."""
    ready: dict[str, Any] = {"timeout": env.ready_timeout}
    ready.update({"accept": True} if env.ready == "accept" else {"http": env.ready})
    return {
        "app": env.app,
        "listen": list(env.listen),
        "workers": env.workers,
        "current": "../current",
        "restart_file": env.restart_file,
        "ready": ready,
        "heartbeat": parse_heartbeat(env.heartbeat) if env.heartbeat else None,
        "grace": env.grace,
        "env": {**dict(env.env), "PUSHDEPLOY_ENV": env.name},
        "state_dir": "monitor",
        "logs_dir": "../shared/logs",
    }


def private_file_step(target: str, text: str, what: str, step: str) -> str:
    """Write ``text`` to ``target`` (quoted for bash) with mode 0600, atomically by a rename.

    The text travels inside the script (stdin) and ``printf`` is a builtin, so it is never on a
    command line; the temporary file is removed first, so a leftover cannot keep a wider mode.
    """
    return (
        f"{{ rm -f -- {target}.tmp && (umask 077 && printf '%s' {q(text)} >{target}.tmp) &&"
        f" mv -f -- {target}.tmp {target}; }} || fail {step} {q(f'cannot write {what}')}"
    )


def write_settings_step(env: Environment) -> str:
    """monitor.json (it holds the app's env) with mode 0600."""
    layout = Layout(env.path)
    text = json.dumps(monitor_settings(env), indent=2, sort_keys=True) + "\n"
    return private_file_step(qpath(layout.monitor_config), text, "monitor.json", "monitor")


def install_steps(env: Environment) -> list[str]:
    """Setup's share: the zipapp (only when its digest changed) and monitor.json."""
    layout = Layout(env.path)
    data = bundle.build_zipapp()
    digest = hashlib.sha256(data).hexdigest()
    encoded = base64.encodebytes(data).decode()
    target = qpath(layout.monitor_zipapp)
    return [
        "step monitor",
        'command -v python3 >/dev/null || fail monitor "python3 is needed on the server for the monitor"',
        f"if [ \"$(sha256sum {target} 2>/dev/null | cut -d' ' -f1)\" != {digest} ]; then",
        f"base64 -d >{target}.tmp <<'PUSHDEPLOY_MONITOR_PYZ' || fail monitor 'cannot write monitor.pyz'",
        encoded.rstrip("\n"),
        "PUSHDEPLOY_MONITOR_PYZ",
        f"chmod 755 {target}.tmp && mv -f -- {target}.tmp {target} || fail monitor 'cannot install monitor.pyz'",
        "fi",
        write_settings_step(env),
    ]


def monitor_command(env: Environment, command: str, extra: list[str]) -> str:
    """The command line that runs the monitor's own CLI on the server (output passes through)."""
    layout = Layout(env.path)
    args = " ".join(q(a) for a in extra)
    return (
        f"python3 {qpath(layout.monitor_zipapp)} {q(command)} "
        f"--config {qpath(layout.monitor_config)} {args}".rstrip()
    )


def monitor_script(env: Environment, command: str, extra: list[str]) -> str:
    layout = Layout(env.path)
    check = (
        f"[ -f {qpath(layout.monitor_zipapp)} ] || "
        "{ echo 'pushdeploy: the monitor is not installed here; run setup (with app and listen set)' >&2;"
        f" exit {MONITOR_NOT_RUNNING}; }}"
    )
    return "{ " + check + "; exec " + monitor_command(env, command, extra) + "; } </dev/null\n"


def reload_command(env: Environment) -> str:
    """Reload and wait long enough for a generation to get ready and the old one to drain."""
    return monitor_command(env, "reload", ["--wait", str(env.ready_timeout + env.grace + 10)])


def restart_steps(env: Environment) -> list[str]:
    """``restart = monitor``: reload and wait for the verdict; start the monitor if it is not running."""
    start = monitor_command(env, "start", ["--timeout", str(env.ready_timeout + 10)])
    return [
        "step restart",
        write_settings_step(env),
        f"out=$({reload_command(env)} 2>&1); rc=$?",
        f'if [ "$rc" = "$MONITOR_NOT_RUNNING" ]; then out=$({start} 2>&1); rc=$?; fi',
        'if [ "$rc" != 0 ]; then back restart "monitor: $(printf \'%s\' "$out" | tail -n 1)"; fi',
        "RELOADED=1",
    ]


def restart_back(env: Environment) -> str:
    """After a switch back: reload into PREV only if the new generation had taken over; after a
    failed reload the old generation never stopped serving PREV."""
    return (
        'restart_back() { [ "${RELOADED:-0}" = 1 ] || return 0; '
        f'{reload_command(env)} >/dev/null 2>&1 || warn "the monitor could not reload $PREV"; }}'
    )


def unit_name(env: Environment) -> str:
    return f"pushdeploy-{env.name}"


def environment_file(env: Environment) -> tuple[str, str] | None:
    """``(path, text)`` of the socket-activated app's EnvironmentFile; None without ``env``.

    Give it ``secrets.redacted(env)`` to print it, the real ``env`` to install it.
    """
    from pushdeploy.remote import systemd

    if not env.env:
        return None
    return f"{Layout(env.path).state}/{unit_name(env)}.env", systemd.environment_file(dict(env.env))


def units(env: Environment, *, socket: bool) -> dict[str, str]:
    """File name -> text of the systemd units for ``env`` (systemd.py renders them).

    Raises ``ValueError`` for what systemd cannot take (a section name that is no unit name, a
    relative path, a newline); the message never holds an env value.
    """
    from pushdeploy.remote import systemd

    if not env.app:
        raise ValueError("no app")
    name = unit_name(env)
    user = env.user or next((h.user for h in env.hosts if h.user), None)
    if socket:
        env_file = environment_file(env)
        socket_unit, service_unit = systemd.render_socket_units(
            name,
            path=env.path,
            user=user,
            app=env.app,
            listen=list(env.listen),
            environment_file=env_file[0] if env_file else None,
        )
        return {f"{name}.socket": socket_unit, f"{name}.service": service_unit}
    service_unit = systemd.render_service(name, path=env.path, user=user, grace=env.grace)
    return {f"{name}.service": service_unit}


def install_unit_steps(
    unit_files: dict[str, str], env_file: tuple[str, str] | None = None
) -> list[str]:
    """Write the env file (0600, as the login user), the units to /etc/systemd/system (0644,
    with sudo -n unless root), and reload systemd.

    Units stay world-readable: systemd shows their text to anyone through its API anyway (and
    warns about world-inaccessible unit files), which is why the env lives in the env file.
    """
    steps = ["step systemd"]
    if env_file is not None:
        path, text = env_file
        steps.append(
            f"mkdir -p -- {qpath(path.rsplit('/', 1)[0])} || fail systemd 'cannot create the state directory'"
        )
        steps.append(private_file_step(qpath(path), text, path.rsplit("/", 1)[1], "systemd"))
    steps.append('S=""; [ "$(id -u)" = 0 ] || S="sudo -n"')
    for name, text in unit_files.items():
        target = q(f"/etc/systemd/system/{name}")
        steps.append(
            f"printf '%s' {q(text)} | $S tee {target} >/dev/null && $S chmod 644 {target}"
            f" || fail systemd 'cannot write {name} (sudo?)'"
        )
    steps.append("$S systemctl daemon-reload || fail systemd 'systemctl daemon-reload failed'")
    return steps


def health_url(health: str, listen: tuple[str, ...]) -> str:
    """A ``/path`` is asked of the first TCP ``listen`` address; anything else is a full URL."""
    if not health.startswith("/"):
        return health
    address = next((item for item in listen if not item.startswith("/")), "127.0.0.1:80")
    host, _, port = address.rpartition(":")
    if host in {"", "0.0.0.0", "*"}:
        host = "127.0.0.1"
    elif host in {"[::]", "::"}:
        host = "[::1]"
    return f"http://{host}:{port}{health}"
