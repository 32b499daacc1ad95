"""``pushdeploy ENV doctor``: the read-only check of what a deploy will meet on each host.

``run_doctor`` (the command's handler) runs the doctor's script (remote/doctor.py builds it, from
doctor.sh) on every host; ``read`` turns one host's markers into a ``Report`` (facts, warnings,
problems); ``show`` prints them and decides: exit 0 only when nothing would stop a deploy; exit 4
(README "Exit statuses") when a host could not be reached or its host key is unknown or changed,
which wins over problems found on the hosts reached (they are still listed: a host not reached is
one nothing is known of); else exit 6 with the problems. What the server says is untrusted: it is
printed through the console, which escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pushdeploy import sources
from pushdeploy.config.environment import Environment
from pushdeploy.engine.failure import foreign
from pushdeploy.errors import ConnectionError, DeployFailed, ExitStatus
from pushdeploy.remote import doctor, readback, scripts
from pushdeploy.remote.doctor import tools
from pushdeploy.remote.protocol import Outcome

if TYPE_CHECKING:
    from pushdeploy.cli.invocation import Invocation
    from pushdeploy.console import Console

LOW_DISK_KB = 100 * 1024  # below this, a warning; below 1 MiB (prelude.sh: full), a problem
FULL_KB = 1024


def script(env: Environment, run: scripts.Run) -> str:
    """The doctor's script for one host, with the source ``env`` deploys from."""
    return doctor.script(env, run, sources.of(env))


@dataclass
class Report:
    """What one host told the doctor: facts to show, warnings, and what would stop a deploy."""

    facts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    set_up: bool = False


def read(env: Environment, outcome: Outcome) -> Report:
    """One host's markers as a report (pure)."""
    if isinstance(outcome.lost, ConnectionError):  # not reached: nothing is known of the host
        return Report(problems=[f"not reached: {outcome.failure}"])
    not_ours = foreign("", outcome)
    if not_ours is not None:  # its script never ran: nothing is known of the host either
        return Report(problems=[f"not reached: {not_ours.message.removeprefix(': ')}"])
    said, report = readback.read(readback.Doctor, outcome), Report()
    if not outcome.done:
        why = outcome.failure or f"its script ended with status {outcome.status}"
        report.problems.append(f"the check did not finish: {why}")
    report.facts.append(f"PATH {'?' if said.path is None else said.path}")
    if said.hook_path is not None and said.hook_path != said.path:
        report.facts.append(f"hooks' PATH (env) {said.hook_path or '(empty)'}")
    bash = "?" if said.bash is None else said.bash
    report.facts.append(f"bash {bash}; {'no git' if said.git is None else said.git}")
    named = tools(env)
    found: dict[str, str] = {}
    for line in outcome.lines.get("tool", []):
        name, _, where = line.partition(" ")
        found[name] = where
    for name, keys in named.items():
        if found.get(name):
            where = found[name] if "/" in found[name] else "a shell builtin"
            report.facts.append(f"{name}: {where}")
        else:
            report.problems.append(
                f"{name} (named by {', '.join(keys)}) is not found on the hooks' PATH"
            )
    report.problems += outcome.lines.get("problem", [])
    disk = said.disk
    where = env.path if said.base is None else said.base
    if disk.isdigit():
        report.facts.append(f"{where}: {int(disk) // 1024} MiB free")
        if int(disk) < FULL_KB:
            report.problems.append(f"the disk holding {where} is full ({disk} KiB free)")
        elif int(disk) < LOW_DISK_KB:
            report.warnings.append(f"only {int(disk) // 1024} MiB free on the disk holding {where}")
    total, _, free = said.inodes.partition(" ")
    if total.isdigit() and int(total) > 0 and free == "0":
        report.problems.append(f"no inode is left on the disk holding {where}")
    agent = " (through your forwarded agent)" if env.ssh.forward_agent else ""
    if said.repo:
        report.facts.append(f"repo {env.source.repo} answers from the server{agent}")
    elif said.repo is not None:
        error = said.repo_error or "no output"
        report.problems.append(
            f"repo {env.source.repo} does not answer from the server{agent}: {error}"
        )
    if said.repo and said.tags is False and env.source.ref is None:
        report.problems.append(
            f"no ref is set and repo {env.source.repo} has no tags: a deploy would have nothing"
            " to deploy (set ref = BRANCH in deploy.conf, or push a tag)"
        )
    if env.ssh.forward_agent and said.agent == "no":
        report.warnings.append("forward-agent is set but no agent reached the server")
    report.set_up = said.setup
    report.facts.append(
        f"set up: {'yes' if report.set_up else 'no'}; live release: {said.live or 'none'}"
    )
    if said.lock:
        report.warnings.append(f"a deploy lock is held by {said.lock}")
    if env.monitor.app:
        state = "none" if said.monitor_status is None else said.monitor_status
        if state == "none":
            report.facts.append("monitor: not installed yet (setup installs it)")
        else:
            running = "running" if state == "0" else "not running"
            report.facts.append(f"monitor: {running}{': ' + said.monitor if said.monitor else ''}")
    return report


def show(env: Environment, outcomes: dict[str, Outcome], console: Console) -> int:
    """Print every host's report; exit 0 when a deploy can go ahead, else raise: exit 4 when a
    host was not reached (even if others have problems), else 6."""
    reports = {label: read(env, outcome) for label, outcome in outcomes.items()}
    if console.json_output:
        console.data({label: vars(r) for label, r in reports.items()})
    else:
        for label, report in reports.items():
            for fact in report.facts:
                console.result(f"{label}: {fact}")
            for warning in report.warnings:
                console.warn(f"{label}: {warning}")
            for problem in report.problems:
                console.result(f"{label}: PROBLEM: {problem}")
    lost = {label: o.lost for label, o in outcomes.items() if isinstance(o.lost, ConnectionError)}
    broken = [label for label, r in reports.items() if r.problems and label not in lost]
    if lost:
        also = f"; problem(s) on {', '.join(broken)} would stop a deploy" if broken else ""
        first = next(iter(lost.values()))
        raise ConnectionError(
            f"doctor: could not reach {', '.join(lost)}{also}",
            first.hint if len(lost) == 1 else None,
        )
    if broken:
        count = sum(len(reports[label].problems) for label in broken)
        raise DeployFailed(
            f"doctor: {count} problem(s) on {', '.join(broken)} would stop a deploy",
            "fix what is listed above (PROBLEM), then run doctor again",
        )
    fresh = [label for label, r in reports.items() if not r.set_up]
    if fresh:
        raise DeployFailed(
            f"doctor: {', '.join(fresh)}: not set up yet; everything else a deploy needs is there",
            "run 'pushdeploy ENV setup', then deploy",
        )
    if not console.json_output:
        console.result(f"ready to deploy [{env.name}] to {', '.join(reports)}")
    return ExitStatus.OK


def run_doctor(inv: Invocation) -> int:
    """``pushdeploy ENV doctor`` (or ``doctor ENV``): every host's script at once, then ``show``."""
    session = inv.session("doctor")
    try:
        outcomes = session.everywhere(script(inv.env, session.run))
    finally:
        session.close()
    return ExitStatus.OK if inv.args.dry_run else show(inv.env, outcomes, inv.console)
