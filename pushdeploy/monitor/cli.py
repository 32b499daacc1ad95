"""The monitor's command line: ``run|start|stop|reload|status|logs --config FILE``.

Same commands for ``python3 -m pushdeploy.monitor`` and ``python3 monitor.pyz``. Exit statuses:
0 ok, 1 failed (one line on stderr says why), 2 bad usage or bad config, 3 no monitor running
(``reload``, ``status``).
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from pushdeploy.monitor import control, settings

USAGE_ERROR = 2


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pushdeploy-monitor",
        description="Run an app's workers on shared sockets and reload them without downtime.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        c = sub.add_parser(name, help=help, description=help)
        c.add_argument("--config", required=True, metavar="FILE", help="the monitor's JSON config")
        return c

    command("run", "run in the foreground until SIGTERM (what the systemd service runs)")
    c = command("start", "start in the background; return once the first generation is ready")
    c.add_argument("--timeout", type=float, metavar="S", help="how long to wait for readiness")
    c = command("stop", "stop the monitor; its workers drain for up to grace seconds")
    c.add_argument("--timeout", type=float, metavar="S", help="how long to wait (grace + 10)")
    c = command("reload", "start a new generation from current; wait for the verdict")
    c.add_argument("--wait", type=float, metavar="S", help="how long to wait for the verdict")
    c = command("status", "print generation, release, workers and the last reload")
    c.add_argument("--json", action="store_true", help="print the status document as JSON")
    c = command("logs", "print the end of the monitor's and the workers' logs")
    c.add_argument("-n", "--lines", type=int, default=50, metavar="N", help="lines per log")
    return p


def main(
    argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = parser().parse_args(argv)
    try:
        config = settings.load(args.config)
    except settings.SettingsError as e:
        print(f"pushdeploy-monitor: error: {e}", file=err)
        return USAGE_ERROR
    if args.command == "run":
        return control.run(config, err)
    if args.command == "start":
        return control.start(config, out, err, args.timeout)
    if args.command == "stop":
        return control.stop(config, out, err, args.timeout)
    if args.command == "reload":
        return control.reload(config, out, err, args.wait)
    if args.command == "status":
        return control.status(config, out, as_json=args.json)
    return control.logs(config, out, args.lines)
