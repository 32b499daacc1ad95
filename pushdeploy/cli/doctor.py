"""``pushdeploy ENV doctor``: the read-only check of what a deploy will meet on each host.

One script per host (``script``) reports with markers, and changes nothing (it takes no lock):
the PATH the deploy's non-interactive shell and its hooks see, bash and git, the tools the hooks
name (the first word of each command in their text, looked up with ``command -v`` in the hooks'
environment), write access to ``path`` (or to its nearest existing parent before setup), free disk
there, whether ``repo`` answers ``git ls-remote`` from the server (through the forwarded agent when
``forward-agent`` is set), whether setup was done, the lock, and the monitor when ``app`` is set.

``run_doctor`` (the command's handler) runs it on every host; ``read`` turns one host's markers
into a ``Report`` (facts, warnings, problems); ``show`` prints them and decides: exit 0 only when nothing would stop a deploy, else exit 6 with the problems.
What the server says is untrusted: it is printed through the console, which escapes it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pushdeploy import sources
from pushdeploy.config.environment import Environment
from pushdeploy.errors import DeployFailed, ExitStatus
from pushdeploy.remote import scripts, service
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath
from pushdeploy.remote.protocol import Outcome

if TYPE_CHECKING:
    from pushdeploy.cli.invocation import Invocation
    from pushdeploy.console import Console

q = shlex.quote
# The keys whose text runs as commands (pre-/post-setup where the config knows them).
HOOKS = ("pre_setup", "post_setup", "pre_deploy", "build", "post_deploy", "test", "restart")
SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", "|&", ";;"}
NEXT_IS_COMMAND = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"}
NOT_A_COMMAND = {"for", "case", "select", "function", "in", "fi", "done", "esac", "}", "[[", "]]"}
WRAPPERS = {"sudo", "env", "exec", "nohup", "command", "nice", "xargs", "timeout"}
_TOOL = re.compile(r"^[A-Za-z0-9_+.,:@%/-]{1,100}$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\+?=")
LOW_DISK_KB = 100 * 1024  # below this, a warning; below 1 MiB (prelude.sh: full), a problem
FULL_KB = 1024
REPO_TIMEOUT = 30


def commands_named(text: str) -> list[str]:
    """The commands a hook's shell text runs: the first word of each simple command, and the
    word after a wrapper (``sudo systemctl`` names both). Relative paths (``./bin/x``, files of
    the release) and words built at run time (``$X``) cannot be checked before a deploy."""
    found: list[str] = []
    lexer = shlex.shlex(
        text.replace("\\\n", " ").replace("\n", " ; "), posix=True, punctuation_chars=True
    )
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: bash will say so; look at the plain words
        tokens = text.replace("\n", " ; ").split()
    expect = True  # the next word is in command position
    for token in tokens:
        if token in SEPARATORS:
            expect = True
        elif not expect or token in NEXT_IS_COMMAND or token.startswith("-"):
            continue
        elif _ASSIGNMENT.match(token):
            continue  # NAME=value before the command
        elif token in NOT_A_COMMAND:
            expect = False
        else:
            checkable = _TOOL.match(token) and ("/" not in token or token.startswith("/"))
            if checkable and token not in found:
                found.append(token)
            expect = token in WRAPPERS
    return found


def tools(env: Environment) -> dict[str, list[str]]:
    """Every command the hooks name, with the keys that name it, in the config's order."""
    named: dict[str, list[str]] = {}
    for attr in HOOKS:
        text = getattr(env, attr, None)
        if not text or (attr == "restart" and text in {"touch", "monitor"}):
            continue
        for tool in commands_named(text):
            named.setdefault(tool, []).append(attr.replace("_", "-"))
    return dict(list(named.items())[:50])


def script(env: Environment, run: scripts.Run) -> str:
    """The doctor's script for one host: markers only, no lock, no change on the server."""
    layout = Layout(env.path)
    git = sources.of(env).kind == "git"
    timeout = f"if command -v timeout >/dev/null; then T=(timeout {REPO_TIMEOUT}); else T=(); fi"
    body = [
        "step doctor",
        'in_user_env() { ( if [ ${#USER_ENV[@]} -gt 0 ]; then export "${USER_ENV[@]}" || exit; fi; "$@" ) </dev/null 3<&- 2>/dev/null; }',
        'problem() { mark "line problem $*"; }',
        'ME=$(id -un 2>/dev/null || echo "this user")',
        'value user "$ME"',
        'value path "$PATH"',
        'value hook_path "$(in_user_env printenv PATH)"',
        'value bash "$BASH_VERSION"',
        '[ "${BASH_VERSINFO[0]}" -ge 4 ] || problem "bash $BASH_VERSION is too old: pushdeploy needs 4 or newer"',
        *(
            [
                'if command -v git >/dev/null; then value git "$(git --version 2>&1 | head -n 1)"',
                'else problem "git is not on the PATH of a non-interactive shell ($PATH)"; fi',
            ]
            if git
            else [
                'command -v python3 >/dev/null || problem "python3 is not installed: artifacts are unpacked with it"',
                'command -v sha256sum >/dev/null || problem "sha256sum (coreutils) is not installed"',
            ]
        ),
        *[
            f'N={q(name)}; if t=$(in_user_env command -v -- "$N"); then mark "line tool $N $t";'
            ' else mark "line tool $N"; fi'
            for name in tools(env)
        ],
        "D=$P n=0",
        'while [ ! -e "$D" ] && [ ! -L "$D" ] && [ "$D" != / ] && [ $n -lt 200 ]; do D=$(dirname -- "$D"); n=$((n + 1)); done',
        'value base "$D"',
        'if [ "$D" = "$P" ]; then',
        '  [ -d "$P" ] || problem "$P exists but is not a directory"',
        '  for d in "$P" "$RELEASES" "$SHARED" "$STATE" "$DEPLOYS"; do',
        '    if [ -e "$d" ] && ! [ -w "$d" ]; then problem "$d is not writable by $ME"; fi',
        "  done",
        'elif ! { [ -d "$D" ] && [ -w "$D" ] && [ -x "$D" ]; }; then',
        '  problem "$P does not exist and $ME cannot create it in $D"',
        "fi",
        'value disk "$(df -Pk -- "$D" 2>/dev/null | awk \'NR == 2 { print $4 }\')"',
        'value inodes "$(df -Pi -- "$D" 2>/dev/null | awk \'NR == 2 { print $2, $4 }\')"',
        'if [ -n "${SSH_AUTH_SOCK:-}" ]; then value agent yes; else value agent no; fi',
        timeout,
        f"if {'command -v git >/dev/null' if git else 'false'}; then",
        # timeout(1) runs programs, not the function that gives git the repo-token
        '  if [ -n "${REPO_TOKEN-}" ]; then T=(git_auth); else T+=(git); fi',
        '  if out=$(GIT_TERMINAL_PROMPT=0 "${T[@]}" ls-remote -- "$REPO" 2>&1 >/dev/null </dev/null); then value repo yes',
        '  else value repo no; value repo_error "$(printf \'%s\\n\' "$out" | grep . | tail -n 1 | cut -c 1-300)"; fi',
        "fi",
        'if [ -d "$SET_UP" ]; then value setup yes; else value setup no; fi',
        'value live "$(live_release)"',
        'if [ -d "$L" ]; then value lock "$(lock_owner)"; fi',
    ]
    if env.health:
        body.append(
            "command -v curl >/dev/null || command -v python3 >/dev/null ||"
            ' problem "the health check needs curl or python3 on the server"'
        )
    if env.app:
        status = service.monitor_command(env, "status", [])
        body += [
            'if command -v python3 >/dev/null; then value python "$(python3 --version 2>&1)"',
            'else problem "python3 is not installed: the monitor (app) needs it"; fi',
            f"if [ -f {qpath(layout.monitor_zipapp)} ]; then",
            f'  out=$(${{T[@]+"${{T[@]}}"}} {status} 2>&1 </dev/null); value monitor_status $?',
            '  value monitor "$(printf \'%s\\n\' "$out" | grep . | head -n 1 | cut -c 1-300)"',
            "else value monitor_status none; fi",
        ]
    return scripts.wrap(env, run, body, user=True, source=sources.of(env))


@dataclass
class Report:
    """What one host told the doctor: facts to show, warnings, and what would stop a deploy."""

    facts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    set_up: bool = False


def read(env: Environment, outcome: Outcome) -> Report:
    """One host's markers as a report (pure)."""
    v, report = outcome.values, Report()
    if not outcome.done:
        why = outcome.failure or f"its script ended with status {outcome.status}"
        report.problems.append(f"the check did not finish: {why}")
    report.facts.append(f"PATH {v.get('path', '?')}")
    if v.get("hook_path", v.get("path")) != v.get("path"):
        report.facts.append(f"hooks' PATH (env) {v.get('hook_path') or '(empty)'}")
    report.facts.append(f"bash {v.get('bash', '?')}; {v.get('git', 'no git')}")
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
    disk = v.get("disk", "")
    where = v.get("base", env.path)
    if disk.isdigit():
        report.facts.append(f"{where}: {int(disk) // 1024} MiB free")
        if int(disk) < FULL_KB:
            report.problems.append(f"the disk holding {where} is full ({disk} KiB free)")
        elif int(disk) < LOW_DISK_KB:
            report.warnings.append(f"only {int(disk) // 1024} MiB free on the disk holding {where}")
    total, _, free = v.get("inodes", "").partition(" ")
    if total.isdigit() and int(total) > 0 and free == "0":
        report.problems.append(f"no inode is left on the disk holding {where}")
    agent = " (through your forwarded agent)" if env.forward_agent else ""
    if v.get("repo") == "yes":
        report.facts.append(f"repo {env.repo} answers from the server{agent}")
    elif "repo" in v:
        error = v.get("repo_error") or "no output"
        report.problems.append(f"repo {env.repo} does not answer from the server{agent}: {error}")
    if env.forward_agent and v.get("agent") == "no":
        report.warnings.append("forward-agent is set but no agent reached the server")
    report.set_up = v.get("setup") == "yes"
    live = v.get("live") or "none"
    report.facts.append(f"set up: {'yes' if report.set_up else 'no'}; live release: {live}")
    if v.get("lock"):
        report.warnings.append(f"a deploy lock is held by {v['lock']}")
    if env.app:
        state = v.get("monitor_status", "none")
        said = v.get("monitor", "")
        if state == "none":
            report.facts.append("monitor: not installed yet (setup installs it)")
        else:
            running = "running" if state == "0" else "not running"
            report.facts.append(f"monitor: {running}{': ' + said if said else ''}")
    return report


def show(env: Environment, outcomes: dict[str, Outcome], console: Console) -> int:
    """Print every host's report; exit 0 when a deploy can go ahead, else raise (exit 6)."""
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
    broken = [label for label, r in reports.items() if r.problems]
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
