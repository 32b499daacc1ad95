"""Pure builders of the remote bash scripts: one script per phase, every value shlex-quoted, no I/O.

Each script is ``main() { <header>; <prelude.sh>; <body>; }; main </dev/null``: bash reads the whole
function before running it, and commands inside never read the rest of the script from stdin.
The client follows a script through the markers it prints (protocol.py). Phases of a deploy:

* ``prepare``  take the lock, pre-deploy, fetch, resolve the ref, build the release; keep the lock
               and leave what it made in ``lock/pending`` for ``activate``.
* ``activate`` switch ``current``, log, post-deploy, restart, test, health; on failure switch back;
               prune; release the lock.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from importlib.resources import files

from pushdeploy import service
from pushdeploy.config import Environment
from pushdeploy.history import Entry
from pushdeploy.layout import Layout
from pushdeploy.layout import quote as qpath

PRELUDE = files("pushdeploy").joinpath("prelude.sh").read_text(encoding="utf-8")
q = shlex.quote
# The layout in the scripts' own terms (paths written from "$P"): the header names each path once
# from it, and prelude.sh and the bodies use only those names (a test holds them to it).
SHELL_LAYOUT = Layout("$P")
PATH_NAMES = {"REPO_DIR": "repo", "RELEASES": "releases", "CURRENT": "current", "SHARED": "shared"}
PATH_NAMES |= {"DEPLOYS": "deploys", "STATE": "state", "L": "lock"}


@dataclass(frozen=True)
class Run:
    """Facts about this invocation that every script of it shares."""

    token: str
    owner: str
    who: str
    stamp: str
    wait: int = 0
    stale_after: int = 120


def wrap(env: Environment, run: Run, body: list[str], *, keep_lock: bool = False) -> str:
    header = [
        f"P={qpath(env.path)}",
        " ".join(f'{name}="{getattr(SHELL_LAYOUT, attr)}"' for name, attr in PATH_NAMES.items()),
        f"TOKEN={q(run.token)} OWNER={q(run.owner)} WHO={q(run.who)}",
        f"REPO={q(env.repo)} RESTART_FILE={q(env.restart_file)} KEEP_RELEASES={env.keep}",
        f"BUILD={q(env.build or '')}",
        "SHARED_ITEMS=(" + " ".join(q(item) for item in env.shared) + ")",
        f"KEEP_LOCK={1 if keep_lock else 0}",
        restart_back(env),
        f"export PUSHDEPLOY_ENV={q(env.name)} SHARED",
        # The user's env reaches hooks and builds (see `hook`), never this shell: a name like P,
        # REPO or PATH must not redirect the script's own variables and commands.
        "USER_ENV=(" + " ".join(f"{name}={q(value)}" for name, value in env.env) + ")",
    ]
    lines = [
        "main() {",
        *header,
        PRELUDE.rstrip("\n"),
        *body,
        "OK=1",
        "mark done",
        "}",
        "main </dev/null",
        "",
    ]
    return "\n".join(lines)


def take_lock(run: Run) -> str:
    return f"step lock\nlock_take {run.wait} {run.stale_after}"


def need_setup() -> str:
    return '[ -d "$REPO_DIR" ] || fail setup "$P is not set up" 78'


def go_live(env: Environment, release: str, action: str) -> list[str]:
    """Switch to RELEASE (vars ID SHA REF PREV set), log, and run what follows a switch.

    A failure in any later step switches back to PREV (or removes ``current`` when there was
    none), marks the release bad in .deploys and exits 77.
    """
    body = [
        "back() {",
        '  warn "$1 failed; switching back to ${PREV:-no release}"',
        f"  switch_back {q(action)}",
        '  fail "$1" "$2" 77',
        "}",
        "step switch",
        f'switch_to "{release}"',
        "CLEAN=",
        f'log "$SHA" "$ID" "$REF" {q(action)} ok',
        'value live "$ID"',
    ]
    release_dir = '"$RELEASES/$ID"'
    if env.post_deploy:
        body.append(f"hook post-deploy {release_dir} {q(env.post_deploy)} back")
    body += restart(env, release_dir)
    if env.test:
        body.append(f"hook test {release_dir} {q(env.test)} back")
    if env.health:
        url = health_url(env.health, env.listen)
        body.append(
            f"health {q(url)} {env.health_timeout} || back health {q(url + ' did not answer in time')}"
        )
    return body


def restart_back(env: Environment) -> str:
    """The bash function that restarts PREV after a switch back, by the same strategy."""
    if env.restart == "monitor":
        return service.restart_back(env)
    if env.restart == "touch":
        return 'restart_back() { touch_restart "$PREV" || warn "cannot touch the restart file of $PREV"; }'
    return (
        f'restart_back() {{ (cd "$RELEASES/$PREV" && user_shell {q(env.restart)}) </dev/null >&2'
        ' || warn "restarting $PREV failed"; }'
    )


def restart(env: Environment, release_dir: str) -> list[str]:
    if env.restart == "touch":
        return ["step restart", 'touch_restart "$ID" || back restart "cannot touch $RESTART_FILE"']
    if env.restart == "monitor":
        return service.restart_steps(env)
    return [f"hook restart {release_dir} {q(env.restart)} back"]


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


def prepare_steps(env: Environment, run: Run, ref: str | None) -> list[str]:
    body = [take_lock(run), need_setup()]
    body.append('PREV=$(live_release) || PREV=""')
    body.append('value previous "$PREV"')
    if env.pre_deploy:
        body.append(
            'if [ -d "$CURRENT/" ]; then D="$CURRENT"; else D="$P"; fi;'
            ' export RELEASE="$(cd "$D" && pwd -P)" REVISION="$(cat "$D/REVISION" 2>/dev/null)"'
        )
        body.append(f'hook pre-deploy "$D" {q(env.pre_deploy)}')
    body += [
        "fetch",
        "step resolve",
        f"REF={q(ref or '')}",
        'if [ -z "$REF" ]; then REF=$(newest_tag); fi',
        '[ -n "$REF" ] || fail resolve "no ref was given and the repository has no tags"',
        'SHA=$(resolve "$REF") || fail resolve "no branch, tag or commit named \'$REF\' in the repository"',
        'value ref "$REF"',
        'value sha "$SHA"',
        f'ID={q(run.stamp)}-"${{SHA:0:7}}"',
        'n=1; while [ -e "$RELEASES/$ID" ] && [ $n -lt 100 ]; do n=$((n + 1)); ID=${ID%%.*}.$n; done',
        'value release "$ID"',
        'build_release "$ID" "$SHA"',
    ]
    return body


def prepare(env: Environment, run: Run, ref: str | None) -> str:
    pending = 'printf \'%s\\n\' "$ID" "$SHA" "$REF" "$PREV" >"$L/pending" || fail release "cannot record it"'
    return wrap(env, run, [*prepare_steps(env, run, ref), pending], keep_lock=True)


def activate_steps(env: Environment) -> list[str]:
    return [*go_live(env, "$ID", "deploy"), 'prune "$ID" "$PREV"']


def activate(env: Environment, run: Run) -> str:
    body = [
        "lock_check",
        '{ read -r ID && read -r SHA && read -r REF && read -r PREV; } <"$L/pending" ||'
        ' fail switch "no prepared release"',
        'export RELEASE="$RELEASES/$ID" REVISION=$SHA',
        *activate_steps(env),
    ]
    return wrap(env, run, body)


def deploy_one(env: Environment, run: Run, ref: str | None) -> str:
    """Both phases in one script, for a single host: no barrier to wait at, two round trips saved."""
    return wrap(env, run, [*prepare_steps(env, run, ref), *activate_steps(env)])


def discard(env: Environment, run: Run) -> str:
    """Remove what ``prepare`` built here and release the lock (another host failed to prepare)."""
    body = [
        "lock_check",
        "step discard",
        '{ read -r ID && [ -n "$ID" ] && rm -rf -- "$RELEASES/$ID"; } <"$L/pending" || true',
    ]
    return wrap(env, run, body)


def revert(env: Environment, run: Run, target: Entry, live: str) -> str:
    """Go back to ``target`` (an earlier deploy): a symlink switch, or a rebuild when pruned."""
    body = [
        take_lock(run),
        need_setup(),
        'PREV=$(live_release) || PREV=""',
        f'[ "$PREV" = {q(live)} ] || fail revert "current changed meanwhile (now ${{PREV:-none}}); try again"',
        f"ID={q(target.release)} SHA={q(target.sha)} REF={q(target.ref)}",
        'export RELEASE="$RELEASES/$ID" REVISION=$SHA',
        'if [ ! -d "$RELEASES/$ID" ]; then',
        '  warn "release $ID was pruned; rebuilding it from $SHA"',
        "  fetch",
        '  build_release "$ID" "$SHA"',
        "fi",
        *go_live(env, "$ID", "revert"),
    ]
    return wrap(env, run, body)


def rollback(env: Environment, run: Run, release: str, previous: str) -> str:
    """Undo a deploy that went live here while it failed on another host."""
    body = [
        take_lock(run),
        f"ID={q(release)} PREV={q(previous)}",
        'SHA=$(cat "$RELEASES/$ID/REVISION" 2>/dev/null || echo unknown)',
        'LIVE=$(live_release) || LIVE=""',
        '[ "$LIVE" = "$ID" ] || fail rollback "current is ${LIVE:-nothing}, not $ID; left as it is"',
        "step rollback",
        "switch_back deploy",
    ]
    return wrap(env, run, body)


def setup(env: Environment, run: Run) -> str:
    dirs = " ".join(q(f"shared/{item.rstrip('/')}") for item in env.shared if item.endswith("/"))
    body = [
        "step check",
        'command -v git >/dev/null || fail check "git is not installed on the server"',
        '[ "${BASH_VERSINFO[0]}" -ge 4 ] || fail check "bash 4 or newer is needed on the server"',
        take_lock(run),
        "step directories",
        f'mkdir -p -- "$RELEASES" "{SHELL_LAYOUT.logs}" "{SHELL_LAYOUT.pids}" "$STATE" ||'
        ' fail directories "cannot create the directories under $P"',
        f'(cd "$P" && mkdir -p -- {dirs}) || fail directories "cannot create shared dirs"'
        if dirs
        else ":",
        "step mirror",
        'if [ -d "$REPO_DIR" ]; then',
        "  fetch",
        "else",
        '  rm -rf -- "$P/.repo.tmp" && git clone --mirror --quiet -- "$REPO" "$P/.repo.tmp" </dev/null >&2 &&'
        ' mv -T -- "$P/.repo.tmp" "$REPO_DIR" || fail mirror "git clone --mirror failed (is repo reachable from the server?)"',
        "fi",
        *(service.install_steps(env) if env.app else []),
    ]
    return wrap(env, run, body)


def status(env: Environment) -> str:
    """Read back what is live, the releases on disk, the history and the lock (no lock taken)."""
    body = [
        'value live "$(live_release)"',
        '[ -d "$REPO_DIR" ] && value setup yes',
        'if [ -d "$L" ]; then value lock "$(lock_owner)"; fi',
        'for d in "$RELEASES"/*/; do [ -d "$d" ] && d=${d%/} && mark "line releases ${d##*/}"; done',
        'if [ -f "$DEPLOYS" ]; then',
        '  tail -n 2000 -- "$DEPLOYS" | while IFS= read -r line; do mark "line deploys $line"; done',
        "fi",
    ]
    return wrap(env, Run("", "", "", ""), body)


def unlock(env: Environment) -> str:
    body = [
        "step unlock",
        'if [ -d "$L" ]; then value holder "$(lock_owner)"; rm -rf -- "$L" || fail unlock "cannot remove $L"; fi',
    ]
    return wrap(env, Run("", "", "", ""), body)


def in_current(env: Environment, command: str) -> str:
    """A command line that runs ``command`` (shell text) in ``current`` with the hook variables."""
    layout = Layout(env.path)
    exports = " ".join(f"{name}={q(value)}" for name, value in env.env)
    return (
        f"cd {qpath(layout.current)}/ 2>/dev/null || "
        "{ echo 'pushdeploy: no current release; deploy first' >&2; exit 127; }; "
        f"export PUSHDEPLOY_ENV={q(env.name)} SHARED={qpath(layout.shared)} "
        f'RELEASE="$(pwd -P)" REVISION="$(cat REVISION 2>/dev/null)" {exports}; '
        f"{command}"
    )


def exec_script(env: Environment, argv: list[str]) -> str:
    """Run ``argv`` joined as one shell command line (as ssh does), sent on stdin, not in argv.

    One line: the command's stdin is what the client sends after it (``exec``'s piped input),
    or nothing.
    """
    return "{ " + in_current(env, "exec bash -c " + q(" ".join(argv))) + "; }\n"


def console_command(env: Environment) -> str:
    return in_current(env, 'exec "${SHELL:-bash}" -i')
