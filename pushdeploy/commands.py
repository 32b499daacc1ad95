"""What each command word does: one small handler per command, wiring config, session and output.

Handlers take an ``Invocation`` and return an exit status; they raise errors.py exceptions for
failures and print results through the console. Reading commands (current, previous, list) share
one read-back script (scripts.status) and the pure history module.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from pushdeploy import checkout, deploy, history, scripts
from pushdeploy.config import Environment
from pushdeploy.console import Console
from pushdeploy.deploy import Session
from pushdeploy.errors import ExitStatus, RemoteCommandFailed, UsageError
from pushdeploy.keys import KEYS, redact
from pushdeploy.release import check_ref


@dataclass
class Invocation:
    args: argparse.Namespace
    console: Console
    env: Environment
    base: Path
    words: list[str]

    def session(self, command: str) -> Session:
        return Session(
            self.env,
            self.console,
            command=command,
            dry_run=self.args.dry_run,
            host_key=self.args.host_key,
            wait=self.args.wait,
        )


def example_config() -> str:
    return files("pushdeploy").joinpath("deploy.conf.example").read_text(encoding="utf-8")


def no_more_words(inv: Invocation, command: str, allowed: int = 0) -> None:
    if len(inv.words) > allowed:
        raise UsageError(f"{command}: unexpected argument {inv.words[allowed]!r}")


def run_deploy(inv: Invocation) -> int:
    no_more_words(inv, "deploy", 1)
    ref = check_ref(inv.words[0]) if inv.words else inv.env.ref
    if ref is not None:
        check_ref(ref)
    env = deploy.without_tests(inv.env) if inv.args.no_tests else inv.env
    if not inv.args.force and not inv.args.dry_run:
        checkout.check(inv.base, inv.console.warn)
    session = Session(
        env,
        inv.console,
        command=f"deploy {ref or '(newest tag)'}",
        dry_run=inv.args.dry_run,
        host_key=inv.args.host_key,
        wait=inv.args.wait,
    )
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
    no_more_words(inv, "revert", 1)
    try:
        steps = int(inv.words[0]) if inv.words else 1
    except ValueError:
        raise UsageError(f"revert: expected a number of releases, got {inv.words[0]!r}") from None
    session = inv.session(f"revert {steps}")
    try:
        targets = deploy.revert(session, steps)
    finally:
        session.close()
    for label, entry in targets.items():
        inv.console.result(f"reverted {label} to {entry.release} ({entry.ref}, {entry.sha[:7]})")
    return ExitStatus.OK


def run_setup(inv: Invocation) -> int:
    no_more_words(inv, "setup")
    session = inv.session("setup")
    try:
        deploy.check_all(session.everywhere(scripts.setup(inv.env, session.run)))
    finally:
        session.close()
    if not inv.args.dry_run:
        inv.console.result(f"set up {inv.env.path} on {', '.join(h.spec for h in inv.env.hosts)}")
    return ExitStatus.OK


def run_config(inv: Invocation) -> int:
    no_more_words(inv, "config", 1)
    settings = inv.env.settings
    if inv.words:
        key = inv.words[0]
        if key not in KEYS:
            raise UsageError(f"config: unknown key {key!r}", "see deploy.conf.example for the keys")
        value = settings[key].value if key in settings else KEYS[key].default
        inv.console.raw(redact(key, value))
        return ExitStatus.OK
    for key, spec in KEYS.items():
        if key == "inherit":
            continue
        if key in settings:
            value = redact(key, settings[key].value).replace("\n", "\n    ")
            inv.console.raw(f"{key} = {value}")
        elif spec.default:
            inv.console.raw(f"# {key} = {spec.default}")
    return ExitStatus.OK


def read(inv: Invocation) -> dict[str, tuple[str, list[history.Entry], list[str]]]:
    session = inv.session("status")
    try:
        outcomes = deploy.read_status(session)
    finally:
        session.close()
    return {
        label: (
            o.values.get("live", ""),
            history.parse(o.lines.get("deploys", [])),
            o.lines.get("releases", []),
        )
        for label, o in outcomes.items()
    }


def describe(entry: history.Entry | None, release: str) -> dict[str, str]:
    if entry is None:
        return {"release": release, "sha": "", "ref": "", "time": "", "who": ""}
    return {
        "release": entry.release,
        "sha": entry.sha,
        "ref": entry.ref,
        "time": entry.time,
        "who": entry.who,
    }


def show(inv: Invocation, found: dict[str, dict[str, str]]) -> int:
    if inv.args.json:
        inv.console.data(found)
        return ExitStatus.OK
    for label, item in found.items():
        prefix = f"{label}: " if len(found) > 1 else ""
        if not item["release"]:
            inv.console.result(f"{prefix}nothing deployed")
            continue
        details = (
            f" {item['sha'][:7]} ({item['ref']}) deployed {item['time']} by {item['who']}"
            if item["sha"]
            else ""
        )
        inv.console.result(f"{prefix}{item['release']}{details}")
    return ExitStatus.OK


def run_current(inv: Invocation) -> int:
    no_more_words(inv, "current")
    return show(
        inv,
        {
            label: describe(history.find(entries, live), live)
            for label, (live, entries, _) in read(inv).items()
        },
    )


def run_previous(inv: Invocation) -> int:
    no_more_words(inv, "previous")
    found = {}
    for label, (live, entries, _) in read(inv).items():
        target = history.revert_target(entries, live, 1)
        found[label] = describe(target, target.release)
    return show(inv, found)


def run_list(inv: Invocation) -> int:
    no_more_words(inv, "list")
    payload: dict[str, list[dict[str, str]]] = {}
    for label, (live, entries, on_disk) in read(inv).items():
        bad = history.bad_releases(entries)
        rows, seen = [], set()
        for entry in history.deploys(entries):
            if entry.release in seen:
                continue
            seen.add(entry.release)
            state = (
                "bad" if entry.release in bad else "ok" if entry.release in on_disk else "pruned"
            )
            rows.append(
                {
                    **describe(entry, entry.release),
                    "state": state,
                    "live": str(entry.release == live).lower(),
                }
            )
        payload[label] = rows
    if inv.args.json:
        inv.console.data(payload)
        return ExitStatus.OK
    for label, rows in payload.items():
        if len(payload) > 1:
            inv.console.result(f"{label}:")
        table = [
            [
                "*" if r["live"] == "true" else "",
                r["release"],
                r["ref"],
                r["sha"][:7],
                r["time"],
                r["who"],
                r["state"],
            ]
            for r in rows
        ]
        inv.console.table(["", "release", "ref", "sha", "deployed", "by", "state"], table)
    return ExitStatus.OK


def run_unlock(inv: Invocation) -> int:
    no_more_words(inv, "unlock")
    session = inv.session("unlock")
    try:
        outcomes = session.everywhere(scripts.unlock(inv.env))
        deploy.check_all(outcomes)
    finally:
        session.close()
    for label, outcome in outcomes.items():
        holder = outcome.values.get("holder")
        inv.console.result(
            f"{label}: removed the lock held by {holder}" if holder else f"{label}: no lock"
        )
    return ExitStatus.OK


def run_exec(inv: Invocation) -> int:
    if not inv.words:
        raise UsageError("exec: give the command to run, e.g. pushdeploy ENV exec 'ls -l'")
    session = inv.session("exec")
    several = len(inv.env.hosts) > 1
    statuses = {}
    try:
        for label, transport in session.transports().items():
            prefix = f"{label}: " if several else ""

            def on_line(stream: str, line: str, prefix: str = prefix) -> None:
                if stream == "out":
                    inv.console.raw(prefix + line)
                else:
                    inv.console.debug(prefix + line)

            statuses[label] = transport.run(scripts.exec_script(inv.env, inv.words), on_line)
    finally:
        session.close()
    for label, status in statuses.items():
        if status:
            raise RemoteCommandFailed(
                f"{label}: {shlex.join(inv.words)} exited with status {status}", status
            )
    return ExitStatus.OK


def run_console(inv: Invocation) -> int:
    no_more_words(inv, "console")
    if len(inv.env.hosts) > 1:
        raise UsageError("console opens one shell: pick a host with -H HOST")
    session = inv.session("console")
    try:
        transport = next(iter(session.transports().values()))
        status = transport.interactive(scripts.console_command(inv.env))
    finally:
        session.close()
    if status:
        raise RemoteCommandFailed(f"the console shell exited with status {status}", status)
    return ExitStatus.OK


HANDLERS: dict[str, Callable[[Invocation], int]] = {
    "deploy": run_deploy,
    "revert": run_revert,
    "setup": run_setup,
    "config": run_config,
    "current": run_current,
    "previous": run_previous,
    "list": run_list,
    "unlock": run_unlock,
    "exec": run_exec,
    "console": run_console,
}
