"""Commands whose remote output passes straight through: ``exec`` (and ``monitor``'s stream).

``stream`` runs one script per host, one host after another, printing what each says as it comes
(prefixed with the host when there are several); ``run_exec`` runs the user's command on every
host, failures included, and reports each host's status.
"""

from __future__ import annotations

import io
import shlex
import time
from typing import TYPE_CHECKING

from pushdeploy.errors import (
    ConnectionError,
    ExitStatus,
    OutputClosed,
    RemoteCommandFailed,
    UsageError,
)
from pushdeploy.remote import shell as remote_shell
from pushdeploy.remote.report import TAIL, DeployReport, HostReport

if TYPE_CHECKING:
    from pushdeploy.cli.invocation import Invocation


def stream(
    inv: Invocation,
    command: str,
    script: str,
    stdin: io.BufferedIOBase | None = None,
    *,
    printed: set[str] | None = None,
    keep_going: bool = False,
    kept: dict[str, dict[str, list[str]]] | None = None,
) -> dict[str, int]:
    """Run ``script`` on every host, passing its output through (prefixed when several hosts);
    each host's status, in the order of the config.

    ``stdin`` follows the script: streamed as it comes to one host, read whole first and sent to
    each when there are several (they run one after another). ``printed`` collects the hosts
    that printed anything. With ``keep_going`` and several hosts, a host whose connection is
    lost is warned about and counts as status 4 (ExitStatus.CONNECTION); the others still run.
    A closed stdout ends the run with ``OutputClosed`` (cli.run: a quiet exit). With ``kept``
    (``--json``), each host's lines are kept there (``stdout``, ``stderr``), not printed.
    """
    session = inv.session(command)
    several = len(inv.env.hosts) > 1
    whole = stdin.read() if stdin is not None and several else None
    statuses = {}
    try:
        transports = session.transports()
        for label in [h.spec for h in inv.env.hosts if h.spec in transports]:
            prefix = f"{label}: " if several else ""

            def on_line(stream: str, line: str, prefix: str = prefix, label: str = label) -> None:
                if printed is not None:
                    printed.add(label)
                log = inv.console.log  # the run's local log has every line, masked (logbook.py)
                if log is not None and inv.console.events is None:  # json: the stream is the log
                    log.write(label, "output" if stream == "out" else "stderr", line)
                if kept is not None:
                    lines = kept.setdefault(label, {"stdout": [], "stderr": []})
                    lines["stdout" if stream == "out" else "stderr"].append(line)
                    return
                try:
                    if stream == "out":
                        inv.console.raw(prefix + line)
                    else:
                        inv.console.debug(prefix + line)
                except BrokenPipeError:  # not an OSError for the transport to call "connection"
                    raise OutputClosed(f"{label}: stdout closed") from None

            source = io.BytesIO(whole) if whole is not None else stdin
            try:
                statuses[label] = transports[label].run(script, on_line, source)
            except ConnectionError as exc:
                if not (keep_going and several):
                    raise
                inv.console.warn(exc.message)
                statuses[label] = ExitStatus.CONNECTION
    finally:
        session.close()
    return statuses


def run_exec(inv: Invocation) -> DeployReport:
    """Run the command on every host, even after one failed; with several hosts, one status
    line each (stderr). The exit status is the first failing host's (in config order)."""
    words: list[str] = inv.opts.command
    if not words:
        raise UsageError("exec: give the command to run, e.g. pushdeploy ENV exec 'ls -l'")
    script = remote_shell.exec_script(inv.env, words)
    printed: set[str] = set()
    kept: dict[str, dict[str, list[str]]] | None = {} if inv.args.json else None
    started = time.monotonic()
    statuses = stream(inv, "exec", script, inv.stdin, printed=printed, keep_going=True, kept=kept)
    command = shlex.join(words)
    report = reported(inv, statuses, kept, time.monotonic() - started)
    if len(statuses) > 1 and kept is None:
        for label, status in statuses.items():
            inv.console.info(f"{label}: " + (f"exit status {status}" if status else "ok"))
    failed = {label: status for label, status in statuses.items() if status}
    if not failed:
        if kept is not None:
            inv.console.finish(report)
        return report
    label, status = next(iter(failed.items()))
    message = f"{label}: {command} exited with status {status}"
    if len(statuses) > 1:
        each = ", ".join(f"{label} (status {status})" for label, status in failed.items())
        message = f"{command} failed on {len(failed)} of {len(statuses)} hosts: {each}"
    error = RemoteCommandFailed(message, status, output=bool(printed & failed.keys()))
    if kept is not None:
        error.report = report
    raise error


def reported(
    inv: Invocation,
    statuses: dict[str, int],
    kept: dict[str, dict[str, list[str]]] | None,
    took: float,
) -> DeployReport:
    """exec's report: each host's exit status, its last lines, and (``--json``) all of them."""
    hosts = [
        HostReport(
            label,
            "ok" if status == 0 else "failed",
            status,
            seconds=0.0,
            output=tuple((kept or {}).get(label, {}).get("stdout", [])[-TAIL:]),
        )
        for label, status in statuses.items()
    ]
    # With --json every host carries both lists, empty when it printed nothing.
    each = {
        label: (kept or {}).get(label, {"stdout": [], "stderr": []})
        for label in (statuses if kept is not None else [])
    }
    return DeployReport.of("exec", inv.env.name, hosts, seconds=round(took, 3), host_extra=each)
