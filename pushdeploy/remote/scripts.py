"""Pure builders of the remote bash scripts: one script per phase, every value shlex-quoted, no I/O.

Each script is ``main() { <header>; <prelude.sh>; <body>; }; main 3<&0 </dev/null; exit``: bash
reads the whole function (and that last line) before running it, so commands inside never read
the rest of the script from stdin, and fd 3 is the client's input for the guard (prelude.sh).
The client follows a script through the markers it prints (protocol.py). A deploy's two phases:

* prepare   take the lock, pre-deploy, fetch, resolve the ref, build the release; nothing live
            changes. In a fleet, then wait at the barrier for every host (``deploy(fleet=True)``).
* activate  switch ``current`` (logged first), post-deploy, restart, test, health; on failure
            switch back; prune; release the lock.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from importlib.resources import files

from pushdeploy.config.environment import Environment
from pushdeploy.remote import protocol, service
from pushdeploy.remote.activation import go_live, restart_back
from pushdeploy.remote.layout import Layout
from pushdeploy.remote.layout import quote as qpath
from pushdeploy.remote.source import Source

PRELUDE = files("pushdeploy.remote").joinpath("prelude.sh").read_text(encoding="utf-8")
q = shlex.quote
# The layout in the scripts' own terms (paths written from "$P"): the header names each path once
# from it, and prelude.sh and the bodies use only those names (a test holds them to it).
SHELL_LAYOUT = Layout("$P")
PATH_NAMES = {"REPO_DIR": "repo", "RELEASES": "releases", "CURRENT": "current", "SHARED": "shared"}
PATH_NAMES |= {"DEPLOYS": "deploys", "STATE": "state", "L": "lock", "RUN_LOGS": "run_logs"}
PATH_NAMES |= {"NEXT_CURRENT": "next_current", "BACK_CURRENT": "back_current"}
PATH_NAMES |= {"UPLOADS": "uploads", "ETAGS": "etags"}


@dataclass(frozen=True)
class Run:
    """Facts about this invocation that every script of it shares."""

    token: str
    owner: str
    who: str
    stamp: str
    wait: int = 0
    stale_after: int = 120
    force: bool = False  # deploy even when the identity is live already


# A script that takes no lock: with no token, no lock is ever its own (prelude.sh lock_mine).
READ_ONLY = Run("", "", "", "")


def wrap(
    env: Environment,
    run: Run,
    body: list[str],
    *,
    user: bool = False,
    kind: str = "",
    source: Source,
) -> str:
    """One whole script: header, prelude.sh, ``body``; ``user``: the body runs the user's commands.

    Only a script that runs user commands (hooks, build, a restart command) carries what they
    need: the user's env, the build text, the restart strategy, and its source's library (git's
    or the artifact's: sources/). A read-only script carries none.
    """
    header = [
        f"P={qpath(env.path)}",
        " ".join(f'{name}="{getattr(SHELL_LAYOUT, attr)}"' for name, attr in PATH_NAMES.items()),
        protocol.contract(),
        f"TOKEN={q(run.token)} OWNER={q(run.owner)} WHO={q(run.who)}",
        f"export PUSHDEPLOY_ENV={q(env.name)} SHARED",
        f'SET_UP="{source.set_up}" FORCE={int(run.force)} UNCHANGED=""',
    ]
    if user:
        header += [
            *source.header(),
            f"RESTART_FILE={q(env.restart_file)} KEEP_RELEASES={env.keep}",
            f"BUILD={q(env.build or '')} NEEDS_TTY={int(env.needs_tty)}"
            f" SHARED_BESIDE={int(reaches_shared_beside(env))}",
            "SHARED_ITEMS=(" + " ".join(q(item) for item in env.shared) + ")",
            restart_back(env),
            # The user's env reaches hooks and builds (see `user_shell`), never this shell: a name
            # like P, REPO or PATH must not redirect the script's own variables and commands.
            "USER_ENV=(" + " ".join(f"{name}={q(value)}" for name, value in env.env) + ")",
            f"MIGRATE_CMD={q(env.migrate or '')}",
        ]
    else:
        header.append("USER_ENV=(); restart_back() { :; }")
    lines = [
        f"# pushdeploy {kind or 'script'}",  # what it is, for a reader (and the fake transport)
        "main() {",
        *header,
        PRELUDE.rstrip("\n"),
        *([source.library().rstrip("\n")] if user else []),
        *body,
        "OK=1",
        "mark done",
        "}",
        # fd 3 keeps the client's input for the guard (prelude.sh), which reads it from the
        # start: one line, so bash has read all of the script before main runs.
        "main 3<&0 </dev/null; exit",
        "",
    ]
    return "\n".join(lines)


def reaches_shared_beside(env: Environment) -> bool:
    """Does user text reach ``../shared`` from the release, as TJ's hooks did from path/current?
    Then releases/shared links to path/shared (prelude.sh); other deploys keep releases/ clean."""
    texts = (env.pre_deploy, env.post_deploy, env.test, env.build, env.restart, env.post_setup)
    return any("../shared" in text for text in texts if text)


def take_lock(run: Run) -> str:
    return f"step lock\nlock_take {run.wait} {run.stale_after}"


def need_setup() -> str:
    return '[ -d "$SET_UP" ] || fail setup "$P is not set up" "$EXIT_NOT_SET_UP"'


def prepare_steps(env: Environment, run: Run, ref: str | None, source: Source) -> list[str]:
    """Lock, pre-deploy, the source's identity (skipped when it is live already, unless
    ``--force``: prelude.sh ``skip_if_live``), its content, and the release built from it."""
    body = [take_lock(run), need_setup(), "read_live", 'value previous "$PREV"']
    if env.pre_deploy:  # in the live release; a first deploy has none (TJ's had a checkout)
        body += [
            'if [ -d "$CURRENT/" ]; then',
            '  export RELEASE="$(cd "$CURRENT" && pwd -P)" REVISION="$(head -c 100 "$CURRENT/REVISION" 2>/dev/null)"',
            f'  hook pre-deploy "$CURRENT" {q(env.pre_deploy)}',
            "else",
            '  warn "pre-deploy skipped: nothing is live yet, so there is no release to run it in"',
            "fi",
        ]
    body += [
        *source.identify(ref),
        *source.verify(),
        "skip_if_live",
        *source.obtain(),
        *new_release_id(run),
        'value release "$ID"',
        'build_release "$ID" "$SHA"',
    ]
    return body


def activate_steps(env: Environment) -> list[str]:
    return [*go_live(env, "$ID", "deploy"), 'prune "$ID" "$PREV"']


def deploy(
    env: Environment,
    run: Run,
    ref: str | None,
    *,
    fleet: bool = False,
    source: Source,
) -> str:
    """The whole deploy of one host. In a ``fleet`` it stops between the phases: it says
    ``prepared`` and waits, its lock held, for the client's word (session.Rollout): "migrate"
    (the primary host runs the migration), then "go" when its batch is next; the end of its
    input instead stops it, cleaning up. Alone, it migrates (if asked) and goes on."""
    alone = ["migrate_release"] if env.migrate else []
    body = [
        f"FLEET={int(fleet)}",
        *prepare_steps(env, run, ref, source),
        *(["await_go"] if fleet else alone),
        *activate_steps(env),
    ]
    return wrap(env, run, body, user=True, kind="deploy", source=source)


def revert(env: Environment, run: Run, source: Source) -> str:
    """Go back to an earlier deploy, in one session: with the lock held, say what is live and the
    history (as ``status`` does), then wait for the client's pick (``to TJ ID SHA REF``, read by
    the client from that history: rollout.pick) and switch to it, or rebuild it when it was pruned."""
    body = [
        take_lock(run),
        need_setup(),
        "read_live",
        *history_lines(),
        "value asked yes",
        "await_word",
        'read -r TJ ID SHA REF <<<"${WORD#to }"',
        '[ "${WORD%% *}" = to ] || fail revert "no release was picked"',
        'if [ "$TJ" = 1 ]; then',
        *(f"  {line}" for line in tj_release(run, source)),
        "fi",
        'valid_id "$ID" && valid_sha "$SHA" || fail revert "not a release and commit: $ID $SHA"',
        'value release "$ID"; value sha "$SHA"; value ref "$REF"; value previous "$PREV"',
        'export RELEASE="$RELEASES/$ID" REVISION=$SHA',
        'if [ ! -d "$RELEASES/$ID" ]; then',
        '  warn "release $ID was pruned; rebuilding it from $SHA"',
        *(f"  {line}" for line in source.rebuild()),
        '  build_release "$ID" "$SHA"',
        "fi",
        *go_live(env, "$ID", "revert"),
    ]
    return wrap(env, run, body, user=True, kind="revert", source=source)


def history_lines() -> list[str]:
    """What is live, what is on disk and the history, as ``value``/``line`` markers."""
    return [
        'value live "$(live_release)"',
        'value link "$(readlink -- "$CURRENT" 2>/dev/null | head -c 1000)"',
        'for d in "$RELEASES"/*/; do [ -d "$d" ] && d=${d%/} && mark "line releases ${d##*/}"; done',
        'if [ -f "$DEPLOYS" ]; then',
        '  tail -n 2000 -- "$DEPLOYS" | cut -c 1-2000 | while IFS= read -r line; do mark "line deploys $line"; done',
        "fi",
    ]


def new_release_id(run: Run) -> list[str]:
    """ID: this run's time and SHA's first 7 characters, made unique with ``.N``."""
    return [
        f'ID={q(run.stamp)}-"${{SHA:0:7}}"',
        'n=1; while [ -e "$RELEASES/$ID" ] && [ $n -lt 100 ]; do n=$((n + 1)); ID=${ID%%.*}.$n; done',
    ]


def tj_release(run: Run, source: Source) -> list[str]:
    """A revert to a line of TJ's deploy: its short SHA made whole, a release ID made for it."""
    if source.kind != "git":
        return [
            'fail revert "that line is from TJ\'s deploy, of git; this environment deploys artifacts"'
        ]
    return [
        '[[ $SHA =~ ^[0-9a-f]{4,64}$ ]] || fail revert "not a commit: $SHA"',
        "fetch",
        'SHA=$(git_repo rev-parse -q --verify "$SHA^{commit}") || fail revert "commit $SHA is not in the repository"',
        *new_release_id(run),
    ]


def rollback(env: Environment, run: Run, release: str, previous: str, source: Source) -> str:
    """Undo a deploy that went live here while it failed on another host."""
    body = [
        take_lock(run),
        f"ID={q(release)} PREV={q(previous)}",
        'valid_id "$ID" && { [ -z "$PREV" ] || valid_id "$PREV"; } || fail rollback "not a release: $ID"',
        'SHA=$(head -c 100 "$RELEASES/$ID/REVISION" 2>/dev/null); valid_sha "$SHA" || SHA=unknown',
        'LIVE=$(live_release) || LIVE=""',
        '[ "$LIVE" = "$ID" ] || fail rollback "current is ${LIVE:-nothing}, not $ID; left as it is"',
        "step rollback",
        'rm -f -- "$BACK_CURRENT"',
        '[ -z "$PREV" ] || ln -sfn -- "releases/$PREV" "$BACK_CURRENT" || fail rollback "cannot create a link in $P"',
        "switch_back deploy",
    ]
    return wrap(env, run, body, user=True, kind="rollback", source=source)


def setup(env: Environment, run: Run, source: Source) -> str:
    dirs = " ".join(q(f"shared/{item.rstrip('/')}") for item in env.shared if item.endswith("/"))
    body = [
        "step check",
        *source.setup(),
        '[ "${BASH_VERSINFO[0]}" -ge 4 ] || fail check "bash 4 or newer is needed on the server"',
        *([f'hook pre-setup "$HOME" {q(env.pre_setup)}'] if env.pre_setup else []),
        take_lock(run),
        "step directories",
        f'mkdir -p -- "$RELEASES" "{SHELL_LAYOUT.logs}" "{SHELL_LAYOUT.pids}" "$STATE" ||'
        ' fail directories "cannot create the directories under $P"',
        f'(cd "$P" && mkdir -p -- {dirs}) || fail directories "cannot create shared dirs"'
        if dirs
        else ":",
        *source.mirror(),
        "link_releases_shared",
        *(service.install_steps(env) if env.app else []),
        *([f'hook post-setup "$P" {q(env.post_setup)}'] if env.post_setup else []),
    ]
    return wrap(env, run, body, user=True, kind="setup", source=source)


def status(env: Environment, source: Source) -> str:
    """Read back what is live, the releases on disk, the history and the lock (no lock taken)."""
    body = [
        *history_lines(),
        '[ -d "$SET_UP" ] && value setup yes',
        'if [ -d "$L" ]; then value lock "$(lock_owner)"; fi',
    ]
    return wrap(env, READ_ONLY, body, kind="status", source=source)


def unlock(env: Environment, source: Source) -> str:
    """Remove the lock, whatever state it is in, and say exactly what was there."""
    body = [
        "step unlock",
        'if [ -e "$L" ] || [ -L "$L" ]; then',
        '  value holder "$(lock_owner)"',
        '  mv -T -- "$L" "$L.gone.$$" && rm -rf -- "$L.gone.$$" ||'
        ' fail unlock "cannot remove $L (check its owner and permissions)"',
        "  value removed yes",
        "fi",
    ]
    return wrap(env, READ_ONLY, body, kind="unlock", source=source)
