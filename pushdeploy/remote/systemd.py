"""systemd units for an app: pure text builders, no I/O (``pushdeploy ENV systemd`` prints them).

Three shapes:

* ``render_service``: ``NAME.service`` running pushdeploy's monitor in the foreground
  (``Type=notify``: the monitor sends READY=1 once its first generation is ready). ``systemctl
  reload`` sends SIGHUP, i.e. a zero-downtime reload. ``KillMode=mixed``: on stop only the
  monitor gets SIGTERM and drains its own workers for ``grace`` seconds; whatever is left when
  ``TimeoutStopSec`` (grace + 15 s) runs out gets SIGKILL from systemd.
* ``render_socket_units``: pure socket activation without the monitor: ``NAME.socket`` holds the
  listeners (``ListenStream=`` per ``listen`` entry, ``FileDescriptorName=listen``) and
  ``NAME.service`` runs the app in ``path/current``. A restart queues connections in the kernel
  instead of refusing them, but requests wait while the app starts (no overlap of old and new).
  The app's ``env`` is not in the unit (unit text is readable by anyone through systemd's API):
  ``EnvironmentFile=`` names ``path/.pushdeploy/NAME.env``, which ``environment_file`` renders
  and ``systemd --install`` writes with mode 0600.
* ``render_watch_service``: ``NAME.service`` running ``pushdeploy ENV watch`` on this machine
  (``systemd --watch``). ``Restart=always``: the watcher never means to end. ``KillMode=mixed``:
  SIGTERM goes to the watcher alone, which lets an in-flight deploy end through its own
  interrupt path (its scripts hear it from the watcher, not from systemd) within
  ``TimeoutStopSec``; such a stop exits 130, which counts as success here.

Every value is escaped for systemd: ``%`` becomes ``%%`` everywhere (specifiers), ``$`` becomes
``$$`` in command lines (variable expansion), command arguments with blanks, quotes or
backslashes are double-quoted with C escapes, and newlines are refused (``ValueError``).
"""

from __future__ import annotations

import re

from pushdeploy.remote.layout import Layout

UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\\-]+$")
PLAIN_ARG = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
ENV_FILE_ESCAPE = re.compile(r'["\\`$]')


def escape_specifiers(value: str) -> str:
    """Escape ``%`` for any unit setting that expands specifiers; refuse newlines."""
    if "\n" in value or "\r" in value:
        raise ValueError(f"newline in a systemd value: {value!r}")
    return value.replace("%", "%%")


def quote_arg(arg: str) -> str:
    """One word of an ``Exec*=`` command line, exactly as given (no specifier, no ``$VAR``)."""
    value = escape_specifiers(arg).replace("$", "$$")
    if value and PLAIN_ARG.match(value) and value != ";":
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command_line(argv: list[str]) -> str:
    return " ".join(quote_arg(a) for a in argv)


def environment_file(env: dict[str, str]) -> str:
    """The text of an ``EnvironmentFile=``: one ``KEY="value"`` line per variable, sorted.

    systemd reads it with its env-file parser (src/basic/env-file.c): inside double quotes a
    backslash escapes a double quote, a backslash, a backquote and ``$``; nothing is expanded and
    no specifiers apply.
    A control character (a newline included) is refused, naming the variable, never the value:
    older systemd versions drop such assignments.
    """
    lines = ["# The app's env for systemd (EnvironmentFile=), written by pushdeploy; mode 0600."]
    for key, value in sorted(env.items()):
        if not ENV_NAME.match(key):
            raise ValueError(f"not a valid environment variable name: {key!r}")
        if CONTROL.search(value):
            raise ValueError(
                f"env {key}: a value with a newline or control character cannot go to systemd"
            )
        escaped = ENV_FILE_ESCAPE.sub(lambda m: "\\" + m[0], value)
        lines.append(f'{key}="{escaped}"')
    return "\n".join(lines) + "\n"


def _check(name: str, path: str) -> None:
    if not UNIT_NAME.match(name):
        raise ValueError(f"not a valid systemd unit name: {name!r}")
    if not path.startswith("/") or path != path.strip():
        raise ValueError(f"the deploy path must be absolute for systemd, got {path!r}")


def _user_lines(user: str | None) -> list[str]:
    return [f"User={escape_specifiers(user)}"] if user else []


def render_service(
    name: str,
    *,
    path: str,
    user: str | None,
    python: str = "/usr/bin/python3",
    description: str = "",
    grace: float = 30.0,
) -> str:
    """``NAME.service`` running ``path/.pushdeploy/monitor.pyz run`` in the foreground."""
    _check(name, path)
    root = path.rstrip("/") or "/"
    layout = Layout(root)
    start = command_line(
        [
            python,
            layout.monitor_zipapp,
            "run",
            "--config",
            layout.monitor_config,
        ]
    )
    lines = [
        "[Unit]",
        f"Description={escape_specifiers(description or f'{name} (pushdeploy monitor)')}",
        "After=network.target",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        *_user_lines(user),
        f"WorkingDirectory={escape_specifiers(root)}",
        f"ExecStart={start}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=mixed",
        f"TimeoutStopSec={grace + 15:g}",
        "Restart=on-failure",
        "RestartSec=2",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"


def listen_stream(entry: str, path: str) -> str:
    """A ``listen`` entry as ``ListenStream=`` wants it; relative socket paths live under path."""
    if "/" in entry and not entry.startswith("/"):
        entry = f"{path.rstrip('/')}/{entry}"
    return escape_specifiers(entry)


def render_socket_units(
    name: str,
    *,
    path: str,
    user: str | None,
    app: str,
    listen: list[str],
    environment_file: str | None = None,
    description: str = "",
) -> tuple[str, str]:
    """``(NAME.socket, NAME.service)`` for running ``app`` under plain socket activation.

    ``environment_file`` is the absolute path of the app's env file on the server, if it has one.
    """
    _check(name, path)
    if not listen:
        raise ValueError("socket activation needs at least one listen address")
    root = path.rstrip("/") or "/"
    about = description or f"{name} (socket-activated by pushdeploy)"
    socket_unit = "\n".join(
        [
            "[Unit]",
            f"Description={escape_specifiers(about)}",
            "",
            "[Socket]",
            *(f"ListenStream={listen_stream(e, root)}" for e in listen),
            "FileDescriptorName=listen",
            "",
            "[Install]",
            "WantedBy=sockets.target",
        ]
    )
    env_lines = []
    if environment_file is not None:
        if not environment_file.startswith("/"):
            raise ValueError(
                f"the environment file must be an absolute path, got {environment_file!r}"
            )
        env_lines.append(f"EnvironmentFile={escape_specifiers(environment_file)}")
    service_unit = "\n".join(
        [
            "[Unit]",
            f"Description={escape_specifiers(about)}",
            f"Requires={name}.socket",
            f"After={name}.socket network.target",
            "",
            "[Service]",
            "Type=simple",
            *_user_lines(user),
            f"WorkingDirectory={escape_specifiers(Layout(root).current)}",
            *env_lines,
            # `exec` keeps the shell's pid, so LISTEN_PID (the main pid) is the app's own.
            f"ExecStart={command_line(['/bin/sh', '-c', f'exec {app}'])}",
            "Restart=on-failure",
        ]
    )
    return socket_unit + "\n", service_unit + "\n"


def render_watch_service(
    name: str,
    *,
    argv: list[str],
    workdir: str,
    user: str | None,
    stop_seconds: int,
    description: str = "",
) -> str:
    """``NAME.service`` running the watcher ``argv`` (``python -m pushdeploy ... ENV watch``)
    in ``workdir``, where its deploy.conf and local logs are found."""
    _check(name, workdir)
    lines = [
        "[Unit]",
        f"Description={escape_specifiers(description or f'{name} (pushdeploy watch)')}",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        *_user_lines(user),
        f"WorkingDirectory={escape_specifiers(workdir)}",
        "Environment=PYTHONUNBUFFERED=1",
        f"ExecStart={command_line(argv)}",
        "KillMode=mixed",
        "KillSignal=SIGTERM",
        f"TimeoutStopSec={stop_seconds}",
        "SuccessExitStatus=130",
        "Restart=always",
        "RestartSec=5",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"
