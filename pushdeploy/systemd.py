"""systemd units for an app: pure text builders, no I/O (``pushdeploy ENV systemd`` prints them).

Two shapes:

* ``render_service``: ``NAME.service`` running pushdeploy's monitor in the foreground
  (``Type=notify``: the monitor sends READY=1 once its first generation is ready). ``systemctl
  reload`` sends SIGHUP, i.e. a zero-downtime reload. ``KillMode=mixed``: on stop only the
  monitor gets SIGTERM and drains its own workers for ``grace`` seconds; whatever is left when
  ``TimeoutStopSec`` (grace + 15 s) runs out gets SIGKILL from systemd.
* ``render_socket_units``: pure socket activation without the monitor: ``NAME.socket`` holds the
  listeners (``ListenStream=`` per ``listen`` entry, ``FileDescriptorName=listen``) and
  ``NAME.service`` runs the app in ``path/current``. A restart queues connections in the kernel
  instead of refusing them, but requests wait while the app starts (no overlap of old and new).

Every value is escaped for systemd: ``%`` becomes ``%%`` everywhere (specifiers), ``$`` becomes
``$$`` in command lines (variable expansion), command arguments with blanks, quotes or
backslashes are double-quoted with C escapes, and newlines are refused (``ValueError``).
"""

from __future__ import annotations

import re

from pushdeploy.layout import Layout

UNIT_NAME = re.compile(r"^[A-Za-z0-9:_.\\-]+$")
PLAIN_ARG = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")


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


def environment_line(env: dict[str, str]) -> str | None:
    """``Environment=`` with each ``KEY=value`` quoted; None when there is nothing to set."""
    if not env:
        return None
    words = []
    for key, value in sorted(env.items()):
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
            raise ValueError(f"not a valid environment variable name: {key!r}")
        word = escape_specifiers(f"{key}={value}").replace("\\", "\\\\").replace('"', '\\"')
        words.append(f'"{word}"')
    return "Environment=" + " ".join(words)


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
    env: dict[str, str] | None = None,
    description: str = "",
) -> tuple[str, str]:
    """``(NAME.socket, NAME.service)`` for running ``app`` under plain socket activation."""
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
    env_line = environment_line(env or {})
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
            *([env_line] if env_line else []),
            # `exec` keeps the shell's pid, so LISTEN_PID (the main pid) is the app's own.
            f"ExecStart={command_line(['/bin/sh', '-c', f'exec {app}'])}",
            "Restart=on-failure",
        ]
    )
    return socket_unit + "\n", service_unit + "\n"
