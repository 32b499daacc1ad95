"""The app as a service on the server: monitor.json, the monitor's install steps and its commands.

deploy.conf's monitor keys become monitor.json; setup installs the monitor zipapp; the commands
drive it (status, start, stop, reload, logs) and ``restart = monitor`` reloads through it
(restart.py). The bash is service.sh's functions; this module writes their calls.

Pure: it returns script text and data. The zipapp is built locally (monitor/bundle.py, byte for
byte reproducible) and travels inside the setup script as base64, so setup needs no SFTP and
works the same over SSH and with ``host = local``; it is rewritten only when its digest changed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from importlib.resources import files
from typing import Any

from pushdeploy.config.environment import Environment
from pushdeploy.config.values import parse_heartbeat
from pushdeploy.monitor import bundle
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath
from pushdeploy.remote.protocol import MONITOR_NOT_RUNNING

LIBRARY = files("pushdeploy.remote").joinpath("service.sh").read_text(encoding="utf-8")
q = shlex.quote
MONITOR_COMMANDS = ("status", "start", "stop", "reload", "logs")


def monitor_settings(env: Environment) -> dict[str, Any]:
    """monitor.json for ``env`` (schema: pushdeploy/monitor/settings.py); paths relative to it."""
    ready: dict[str, Any] = {"timeout": env.monitor.ready_timeout}
    ready.update({"accept": True} if env.monitor.ready == "accept" else {"http": env.monitor.ready})
    return {
        "app": env.monitor.app,
        "listen": list(env.monitor.listen),
        "workers": env.monitor.workers,
        "current": "../current",
        "restart_file": env.restart.file,
        "ready": ready,
        "heartbeat": parse_heartbeat(env.monitor.heartbeat) if env.monitor.heartbeat else None,
        "grace": env.monitor.grace,
        "env": {**dict(env.env), "PUSHDEPLOY_ENV": env.name},
        "state_dir": "monitor",
        "logs_dir": "../shared/logs",
    }


def write_settings_step(env: Environment) -> str:
    """monitor.json (it holds the app's env) with mode 0600 (service.sh ``write_private``: the
    text travels inside the script, never on a command line)."""
    target = qpath(Layout(env.path).monitor_config)
    text = json.dumps(monitor_settings(env), indent=2, sort_keys=True) + "\n"
    return f"write_private {target} {q(text)} monitor.json monitor"


def install_steps(env: Environment) -> list[str]:
    """Setup's share: the zipapp (its base64 in a heredoc, installed only when its digest
    changed) and monitor.json."""
    layout = Layout(env.path)
    data = bundle.build_zipapp()
    digest = hashlib.sha256(data).hexdigest()
    encoded = base64.encodebytes(data).decode()
    target = qpath(layout.monitor_zipapp)
    return [
        f"monitor_install {target} {digest} <<'PUSHDEPLOY_MONITOR_PYZ'",
        encoded.rstrip("\n"),
        "PUSHDEPLOY_MONITOR_PYZ",
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
    """``pushdeploy ENV monitor COMMAND``: service.sh and one call of ``monitor_cli``, unwrapped
    (no prelude.sh), in one ``{ ... }`` that bash reads whole before it runs it."""
    layout = Layout(env.path)
    args = " ".join(q(a) for a in [command, *extra])
    return "\n".join(
        [
            "{",
            LIBRARY.rstrip("\n"),
            f"MONITOR_NOT_RUNNING={MONITOR_NOT_RUNNING}",
            f"monitor_cli {qpath(layout.monitor_zipapp)} {qpath(layout.monitor_config)} {args}",
            "} </dev/null",
            "",
        ]
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


def units(env: Environment, *, socket: bool, user: str | None) -> dict[str, str]:
    """File name -> text of the systemd units for ``env`` (systemd.py renders them), run as
    ``user``: the one a deploy logs in as (transport.login_users), who owns the releases.

    Raises ``ValueError`` for what systemd cannot take (a section name that is no unit name, a
    relative path, a newline); the message never holds an env value.
    """
    from pushdeploy.remote import systemd

    if not env.monitor.app:
        raise ValueError("no app")
    name = unit_name(env)
    if socket:
        env_file = environment_file(env)
        socket_unit, service_unit = systemd.render_socket_units(
            name,
            path=env.path,
            user=user,
            app=env.monitor.app,
            listen=list(env.monitor.listen),
            environment_file=env_file[0] if env_file else None,
        )
        return {f"{name}.socket": socket_unit, f"{name}.service": service_unit}
    service_unit = systemd.render_service(name, path=env.path, user=user, grace=env.monitor.grace)
    return {f"{name}.service": service_unit}


def install_unit_steps(
    unit_files: dict[str, str], env_file: tuple[str, str] | None = None
) -> list[str]:
    """Write the env file (0600, as the login user), the units to /etc/systemd/system (0644,
    with sudo -n unless root), and reload systemd: calls of service.sh, so the script that runs
    them carries ``LIBRARY``.

    Units stay world-readable: systemd shows their text to anyone through its API anyway (and
    warns about world-inaccessible unit files), which is why the env lives in the env file.
    """
    steps = ["step systemd"]
    if env_file is not None:
        path, text = env_file
        steps.append(f"systemd_env_file {qpath(path)} {q(text)}")
    steps += [f"systemd_unit {q(name)} {q(text)}" for name, text in unit_files.items()]
    steps.append("systemd_reload")
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
