# pushdeploy rollback
main() {
P="$HOME"/apps/app
REPO_DIR="$P/repo" RELEASES="$P/releases" CURRENT="$P/current" SHARED="$P/shared" DEPLOYS="$P/.deploys" STATE="$P/.pushdeploy" L="$P/.pushdeploy/lock" RUN_LOGS="$P/.pushdeploy/runs" NEXT_CURRENT="$P/.current.new" BACK_CURRENT="$P/.current.back" UPLOADS="$P/.pushdeploy/uploads" ETAGS="$P/.pushdeploy/etags"
EXIT_LOCK_HELD=75
EXIT_SWITCHED_BACK=77
EXIT_NOT_SET_UP=78
EXIT_DISK_FULL=79
EXIT_ABORTED=80
EXIT_NO_REF=81
EXIT_REFUSED=82
MONITOR_NOT_RUNNING=3
LOCK_OWNER=owner
LOCK_TOKEN=token
LOCK_BUILDING=building
LOCK_CLIENT_GONE=client-gone
LOCK_SWITCHING=switching
LOCK_LOG=log
BEAT_EVERY=2
SILENT_AFTER=20
RELEASE_ID_RE='^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{7}(\.[0-9]+)?$'
SHA_RE='^([0-9a-f]{40}|[0-9a-f]{64})$'
TOKEN=0123456789abcdef0123456789abcdef OWNER='deploy@laptop (pid 4242, since 2024-01-02T03:04:05Z, running: deploy)' WHO=deploy@laptop
export PUSHDEPLOY_ENV=git-command-fleet SHARED
SET_UP="$REPO_DIR" FORCE=0 UNCHANGED=""
REPO=https://git.example.com/example/app.git
REPO_TOKEN=golden-token-0123456789
REPO_TOKEN_SCOPE=https://git.example.com
REPO_TOKEN_HELPER='!f() { test "$1" = get || exit 0; user= protocol= host=; while IFS= read -r line; do case $line in username=*) user=1;; protocol=*) protocol=${line#protocol=};; host=*) host=${line#host=};; esac; done; test -n "$PUSHDEPLOY_REPO_SCOPE" && test "$protocol://$host" = "$PUSHDEPLOY_REPO_SCOPE" || exit 0; test -n "$user" || echo username=x-access-token; printf "password=%s\n" "$PUSHDEPLOY_REPO_TOKEN"; }; f'
REPO_TOKEN_ENV=PUSHDEPLOY_REPO_TOKEN
REPO_TOKEN_SCOPE_ENV=PUSHDEPLOY_REPO_SCOPE
RESTART_FILE=tmp/restart.txt KEEP_RELEASES=3
BUILD=make NEEDS_TTY=0 SHARED_BESIDE=0
SHARED_ITEMS=()
RESTART_BACK=(restart_back_by_command 'sudo systemctl restart app')
USER_ENV=()
MIGRATE_CMD=./bin/migrate-database
# pushdeploy's bash library: sent at the top of every generated script (see scripts.py).
# Needs P (deploy root), the paths under it (REPO_DIR, RELEASES, CURRENT, SHARED, DEPLOYS, STATE,
# L: the lock dir, NEXT_CURRENT, BACK_CURRENT; named from layout.py by the header), the contract's
# names (EXIT_*, LOCK_*, *_RE, BEAT_EVERY, SILENT_AFTER: protocol.py), TOKEN, OWNER, WHO and
# RESTART_BACK (restart_back).
# Markers go to stdout (protocol.py), hook and build output as `out` markers among them; the rest
# goes to stderr. More functions come after it, by the scripts that call them: the source's
# library (sources/), restart.sh, and the other .sh files of remote/.
# fd 3 is the client's input: it ends when the client goes away (Ctrl-C, a lost connection), or
# falls silent when the network does (no `beat` line for SILENT_AFTER s), which the guard turns
# into a clean stop before the switch. A `beat` marker every BEAT_EVERY s tells the client the
# script is there through a quiet step (beats_start).
#
# Phases of one run (PHASE): build (nothing live changed: a stop removes the half-built release),
# live (switched, checks running: a stop switches back), back (switching back: a stop finishes
# it), done (checked, or switched back: a stop changes nothing).
set -u -o pipefail
umask 022
OK=0 GUARD="" BEATS="" FULL="" PHASE=build PREV="" PREV_LINK="" ACTION="" MARK=bad MAIN=$$

# mark: one marker line; once the lock is held, also a line of this run's log on the server
# (RUNLOG: in the lock, then beside the release; never a reason to fail).
RUNLOG=""
mark() {
  printf '::pushdeploy::%s\n' "$*"
  if [ -n "$RUNLOG" ]; then TZ=UTC0 printf '%(%Y-%m-%dT%H:%M:%SZ)T %s\n' -1 "$*" >>"$RUNLOG" 2>/dev/null || :; fi
}
step() { mark "step $1"; }
value() { mark "value $1 $2"; }
warn() { mark "warn $*"; }
# fail STEP WHY [STATUS]: say why and exit; a failure on a full disk says so and exits EXIT_DISK_FULL.
fail() {
  local why=$2 status=${3:-1}
  if { [ "$status" = 1 ] || [ "$status" = "$EXIT_SWITCHED_BACK" ]; } && disk_full; then
    why="$why: $(disk_note)" status=$EXIT_DISK_FULL
  fi
  mark "fail $1 $why"
  exit "$status"
}
valid_id() { [[ $1 =~ $RELEASE_ID_RE ]]; }
valid_sha() { [[ $1 =~ $SHA_RE ]]; }
# The disk is full when, on a filesystem a deploy writes to (P, and releases/, the mirror, shared/,
# the state, which may each be a filesystem of its own), less than 1 MiB or no inode is left
# (asked after a failed write); FULL names that place.
disk_stats() { df -P"$1" -- "${2:-$P}" 2>/dev/null | awk 'NR == 2 { print $2, $4 }'; }
disk_full() {
  local place total free
  # shellcheck disable=SC2153  # RELEASES is set by the header (scripts.py), not a typo of RELEASE
  for place in "$P" "$RELEASES" "$REPO_DIR" "$SHARED" "$STATE"; do
    [ -d "$place" ] || continue
    FULL=$place
    read -r total free < <(disk_stats k "$place") && [ -n "$free" ] && [ "$free" -lt 1024 ] && return 0
    read -r total free < <(disk_stats i "$place") && [ -n "$free" ] && [ "$total" -gt 0 ] && [ "$free" = 0 ] && return 0
  done
  return 1
}
disk_note() {
  local total free
  read -r total free < <(disk_stats k "$FULL")
  printf 'the disk holding %s is full (%s KiB free)' "$FULL" "${free:-?}"
}

on_exit() {
  local status=$?
  trap '' TERM INT HUP PIPE
  # The lock goes before the guard: a SIGKILL between the two leaves the guard to drop it.
  if [ "$OK" != 1 ] && [ "$PHASE" = build ] && lock_mine; then drop_building "$L"; fi
  lock_drop
  if [ -n "$GUARD" ]; then kill -KILL "$GUARD" 2>/dev/null; wait "$GUARD" 2>/dev/null; fi
  if [ -n "$BEATS" ]; then kill -KILL "$BEATS" 2>/dev/null; wait "$BEATS" 2>/dev/null; fi
  exit "$status"
}
# on_signal WHAT: stop every process of this run (this shell and the guard ignore the TERM), then
# switch back if the release is live but unchecked, or clean up (the EXIT trap).
on_signal() {
  trap '' TERM INT HUP PIPE
  kill -TERM 0 2>/dev/null
  if [ -e "$L/$LOCK_CLIENT_GONE" ]; then set -- "the client going away"; fi
  if [ "$PHASE" = build ] && [ "$(head -c 10 -- "$L/$LOCK_CLIENT_GONE" 2>/dev/null)" = stop ]; then
    fail stopped "another host failed, so this one stopped before going live; nothing live changed" "$EXIT_ABORTED"
  fi
  case $PHASE in
    live | back) back interrupted "stopped by $1 after going live" ;;
    done) fail interrupted "stopped by $1 after the release went live and passed its checks" "$EXIT_ABORTED" ;;
  esac
  fail interrupted "stopped by $1 before going live; nothing live changed" "$EXIT_ABORTED"
}
# on_pipe: a marker could not be written, so the client is gone. Before the switch: stop. After
# it: finish on our own (a hook's output goes through `relay`, which never fails a hook).
on_pipe() {
  exec >/dev/null 2>&1
  [ "$PHASE" != build ] || on_signal "the client going away"
}
trap on_exit EXIT
trap 'on_signal SIGHUP' HUP
trap 'on_signal SIGTERM' TERM
trap 'on_signal SIGINT' INT
trap on_pipe PIPE

# bg CMD...: run CMD in the background and wait for it, so a signal is handled at once.
bg() {
  "$@" &
  wait_for $!
}
wait_for() {
  local status
  while :; do
    wait "$1" 2>/dev/null
    status=$?
    kill -0 "$1" 2>/dev/null || return "$status"
  done
}
# relay: a hook's output as marker lines on stdout, in order with the steps (protocol.py `out`);
# once the client is gone, swallow it (never fail the writer). Without awk: plain, on stderr.
relay() {
  local live=()
  if command -v awk >/dev/null; then
    # mawk (Debian's default awk) reads a pipe a block at a time unless told to read line by line:
    # a line would reach the client only when its step ended.
    if awk -W version 2>/dev/null | head -n 1 | grep -q '^mawk'; then live=(-W interactive); fi
    awk ${live[@]+"${live[@]}"} -v runlog="$RUNLOG" '{ print "::pushdeploy::out " $0; fflush()
      if (runlog != "") { print "out " $0 >>runlog; fflush(runlog) } }' 2>/dev/null || exec cat >/dev/null
  else
    cat >&2 2>/dev/null || exec cat >/dev/null
  fi
}
# user_shell DIR TEXT: bash -e running user text in DIR, the user's env exported by the shell itself
# (never on a command line), without the client's input; its output goes through relay.
user_shell() {
  (
    cd "$1" || exit
    if [ ${#USER_ENV[@]} -gt 0 ]; then export "${USER_ENV[@]}" || exit; fi
    if [ "${NEEDS_TTY:-0}" = 1 ] && command -v script >/dev/null; then
      export PUSHDEPLOY_HOOK=$2  # script(1) runs a command line: the text goes by the environment
      # shellcheck disable=SC2016  # single quotes: the inner bash expands it, from the environment
      exec script -qefc 'exec bash -e -c "$PUSHDEPLOY_HOOK"' /dev/null
    fi
    exec bash -e -c "$2"
  ) </dev/null 3<&- 2>&1 | relay
}
# hook NAME DIR TEXT [ON_FAIL]: run user text with bash -e in DIR; its output goes through relay.
hook() {
  local status=0
  step "$1"
  bg user_shell "$2" "$3" || status=$?
  if [ "$status" != 0 ]; then "${4:-fail}" "$1" "'$1' exited with status $status"; fi
}

# The lock: a directory made complete (owner and token inside) and renamed into place, so nobody
# ever sees it without its owner; a rename onto a held lock fails (the directory is not empty).
lock_owner() { lock_owner_of "$L"; }
lock_owner_of() {
  local owner
  owner=$(head -c 1000 -- "$1/$LOCK_OWNER" 2>/dev/null | tr -d '\000-\037')
  printf '%s' "${owner:-an unknown holder (no owner recorded)}"
}
# A read-only script has no token (TOKEN is empty): no lock is ever its own.
lock_mine() { [ -n "$TOKEN" ] && [ "$(cat -- "$L/$LOCK_TOKEN" 2>/dev/null)" = "$TOKEN" ]; }
# lock_drop: renamed away first, so that a reader never sees the lock without its owner.
lock_drop() { if lock_mine && mv -T -- "$L" "$L.gone.$$"; then rm -rf -- "$L.gone.$$"; fi; }
# lock_remove: `unlock`: remove the lock in any state, whoever holds it, and say what was there.
lock_remove() {
  step unlock
  if [ -e "$L" ] || [ -L "$L" ]; then
    value holder "$(lock_owner)"
    { mv -T -- "$L" "$L.gone.$$" && rm -rf -- "$L.gone.$$"; } ||
      fail unlock "cannot remove $L (check its owner and permissions)"
    value removed yes
  fi
}
# lock_take WAIT_SECONDS STALE_SECONDS: a lock not refreshed for STALE seconds is taken over.
lock_take() {
  local waits=$1 now mtime held holder again=0 new="$STATE/.lock.$$"
  mkdir -p -- "$STATE" 2>/dev/null || fail lock "cannot create $STATE (check its owner and permissions)"
  # The guard starts before the lock is ours, so that no instant of holding it goes unguarded
  # (a SIGKILL right after the rename): it touches the lock only while the lock is ours.
  exec {WAKE}<> <(:)  # the guard passes the client's words on through it (await_word)
  guard &
  GUARD=$!
  while :; do
    rm -rf -- "$new"
    # shellcheck disable=SC2153  # OWNER is set by the header (scripts.py), not a typo of owner
    if ! { mkdir -- "$new" && printf '%s\n' "$OWNER" >"$new/$LOCK_OWNER" &&
      printf '%s\n' "$TOKEN" >"$new/$LOCK_TOKEN"; } 2>/dev/null; then
      rm -rf -- "$new"
      fail lock "cannot write the lock in $STATE (check its owner and permissions)"
    fi
    if mv -T -- "$new" "$L" 2>/dev/null; then
      # The log may hold what hooks print (secrets too): for this user only.
      if (umask 077 && : >"$L/$LOCK_LOG") 2>/dev/null; then RUNLOG="$L/$LOCK_LOG"; fi
      return 0
    fi
    rm -rf -- "$new"
    now=$(date +%s)
    mtime=$(stat -c %Y -- "$L/$LOCK_OWNER" 2>/dev/null || stat -c %Y -- "$L" 2>/dev/null || echo "$now")
    held=$(cat -- "$L/$LOCK_TOKEN" 2>/dev/null)
    if [ $((now - mtime)) -gt "$2" ] && mv -T -- "$L" "$L.stale.$$" 2>/dev/null; then
      if [ "$(cat -- "$L.stale.$$/$LOCK_TOKEN" 2>/dev/null)" = "$held" ]; then
        warn "took over a stale lock (not refreshed for $((now - mtime))s) held by $(lock_owner_of "$L.stale.$$")"
        stale_cleanup "$L.stale.$$"
        rm -rf -- "$L.stale.$$"
      else  # a new holder came between the look and the move: give it back
        mv -T -- "$L.stale.$$" "$L" 2>/dev/null
      fi
      continue
    fi
    if [ "$waits" -le 0 ]; then  # counted, not timed: SECONDS ticks in whole seconds
      # A lock without its owner is one its holder dropped since our rename failed (a lock is
      # never without one: made complete, then renamed): try again at once, a bounded number of
      # times, rather than name "an unknown holder".
      holder=$(head -c 1000 -- "$L/$LOCK_OWNER" 2>/dev/null | tr -d '\000-\037')
      if [ -z "$holder" ] && [ "$again" -lt 100 ]; then again=$((again + 1)) && continue; fi
      holder=${holder:-an unknown holder (no owner recorded)}
      value holder "$holder"
      fail lock "locked by $holder" "$EXIT_LOCK_HELD"
    fi
    waits=$((waits - 1))
    sleep 1
  done
}
# drop_building LOCKDIR: remove the release that lock's holder was building, unless it is live.
# The record is written before the release directory is made, so no signal can come between.
drop_building() {
  local id
  id=$(head -n 1 -- "$1/$LOCK_BUILDING" 2>/dev/null)
  # shellcheck disable=SC2153  # RELEASES is set by the header (scripts.py), not a typo of RELEASE
  valid_id "$id" && [ "$(live_release)" != "$id" ] && [ -d "$RELEASES/$id" ] || return 1
  rm -rf -- "${RELEASES:?}/$id" "${RUN_LOGS:?}/$id.log"
}
stale_cleanup() {
  if drop_building "$1"; then warn "removed the release the stale lock's holder had half-built"; fi
}
# await_word: wait, lock held, for the client's next word, which the guard passes on through
# WAKE the moment it arrives; WORD is set. The end of the client's input stops us instead (the
# guard), so the wait lasts as long as the client's decision.
# A read that times out mid-line keeps what it got in WORD: kept, so no word is ever lost.
# Without its guard (killed) no word can come, nor the input's end: stop, as at the input's end.
await_word() {
  local part=""
  until read -r -t 1 -u "$WAKE" WORD; do
    part+=$WORD
    if [ -n "$GUARD" ] && ! kill -0 "$GUARD" 2>/dev/null; then
      fail stopped "its guard died while it waited for the client's word; nothing live changed" "$EXIT_ABORTED"
    fi
  done
  WORD=$part$WORD
}
# await_go: a fleet's barrier (session.Rollout): say so and wait for "go" (every host prepared,
# this host's batch is next); "migrate" runs the migration here first (the primary host).
await_go() {
  value prepared yes
  while await_word; do
    case $WORD in
      go) return 0 ;;
      migrate) migrate_release ;;
    esac
  done
}
# migrate_release: the run-once migration (MIGRATE_CMD), in the new release, before any switch;
# none on a host whose release is live already (skip_if_live): it ran when that went live.
migrate_release() {
  if [ -n "$UNCHANGED" ]; then value migrated yes; return 0; fi
  hook migrate "$RELEASES/$ID" "$MIGRATE_CMD"
  value migrated yes
}
# skip_if_live: what would be deployed (SHA: a commit, or an artifact's digest) is what is live
# already: say so and change nothing (unless --force: FORCE=1). A fleet's host still waits for
# its word like the others (so the fleet goes on together), then ends.
skip_if_live() {
  [ "$FORCE" != 1 ] && [ -n "$PREV" ] && [ -n "${SHA:-}" ] || return 0
  [ "$(head -c 100 -- "$RELEASES/$PREV/REVISION" 2>/dev/null)" = "$SHA" ] || return 0
  UNCHANGED=$PREV
  value unchanged "$PREV"
  value release "$PREV"
  if [ "${FLEET:-0}" = 1 ]; then await_go; fi
  OK=1
  mark "done"
  exit 0
}
# beats_start: the first call of every script (scripts.wrap): its beats, in the background. Not
# on a bash older than 4 ({nap} is bash 4's), where setup_check_bash says what is wrong.
beats_start() {
  [ "${BASH_VERSINFO[0]}" -ge 4 ] || return 0
  beats &
  BEATS=$!
}
# beats: a `beat` marker now and every BEAT_EVERY seconds while the script runs, so that the
# client hears it through a quiet step and knows the connection lives (transport/heartbeat.py).
# A process of its own, not the guard's: a write that blocks (the client reads nothing) stops
# only the beats. It ends with the script (on_exit kills it; by itself within BEAT_EVERY s after
# a SIGKILL) or when the client is gone (a write fails), and starts no process (`read -t`).
beats() {
  local nap
  trap - EXIT
  trap '' TERM INT HUP PIPE
  exec 2>/dev/null
  exec {nap}<> <(:)
  while kill -0 "$MAIN" && printf '::pushdeploy::beat\n'; do
    read -r -t "$BEAT_EVERY" -u "$nap" _
  done
}
# guard: the lock holder's helper, in the background (from lock_take). Each second: if the
# script died without cleaning up (SIGKILL), clean up for it; if the client is gone before the
# switch (its input ended, or no line came from it for SILENT_AFTER seconds: it sends a `beat`
# every BEAT_EVERY), stop the script; a line from the client is passed on to the script
# (await_word), but "beat" is only heard, and "stop" (another host failed) stops the script at
# once, as the end of the input does, and says why. Every 20 s: refresh the lock while it is
# ours. It starts no process (it waits with `read -t`).
guard() {
  local open=1 nap line part="" refresh=$((SECONDS + 20)) heard=$SECONDS
  trap - EXIT
  trap '' TERM INT HUP PIPE
  exec >/dev/null 2>&1
  exec {nap}<> <(:)
  while kill -0 "$MAIN" 2>/dev/null; do
    if [ "$open" = 1 ]; then
      if read -r -t 1 -u 3 line; then
        line=$part$line part="" heard=$SECONDS  # a line split by a time-out is whole again
        if [ "$line" = stop ]; then  # the fleet failed elsewhere: stop now, whatever runs
          open=0
          if lock_mine; then printf 'stop\n' >"$L/$LOCK_CLIENT_GONE"; fi
          kill -TERM 0
        elif [ "$line" != beat ]; then
          printf '%s\n' "$line" >&"$WAKE"  # the script's await_word reads it
        fi
      elif [ $? -gt 128 ] && { [ $((SECONDS - heard)) -lt "$SILENT_AFTER" ] ||
        { lock_mine && [ -e "$L/$LOCK_SWITCHING" ]; }; }; then
        part+=$line  # a time-out: keep what came of a line so far (after the switch, keep
        # listening to a silent client: its silence changes nothing, a later "stop" may)
      else  # the end of the input, or the client silent too long: it is gone
        open=0
        if ! lock_mine; then
          kill -TERM 0  # no lock of ours (yet): nobody is left to wait for
        elif [ ! -e "$L/$LOCK_SWITCHING" ]; then
          : >"$L/$LOCK_CLIENT_GONE"
          kill -TERM 0
        fi
      fi
    else
      read -r -t 1 -u "$nap" _
    fi
    if [ "$SECONDS" -ge "$refresh" ]; then
      if lock_mine; then touch -- "$L/$LOCK_OWNER"; fi  # never another holder's lock
      refresh=$((SECONDS + 20))
    fi
  done
  if [ -n "$BEATS" ]; then kill -KILL "$BEATS" 2>/dev/null; fi
  lock_mine || exit 0
  kill -TERM 0  # what the dead script had started
  if [ -f "$L/$LOCK_SWITCHING" ]; then
    { read -r ID && read -r SHA && read -r REF && read -r PREV && read -r ACTION && read -r SIZE &&
      read -r MARK; } <"$L/$LOCK_SWITCHING"
    valid_id "$ID" && switch_back "$ACTION"
  fi
  drop_building "$L"
  lock_drop
}

# link_releases_shared: releases/shared -> ../shared when user text reaches ../shared (scripts.py
# says so in SHARED_BESIDE), so that it is path/shared, as it was from TJ's path/current. It is
# no release: prune and list pass it by.
link_releases_shared() {
  [ "${SHARED_BESIDE:-0}" = 1 ] || return 0
  [ -e "$RELEASES/shared" ] || [ -L "$RELEASES/shared" ] || ln -s ../shared "$RELEASES/shared" 2>/dev/null || :
}
# need_setup: stop, saying so, where setup was not done (SET_UP: the source's sign of it).
need_setup() { [ -d "$SET_UP" ] || fail setup "$P is not set up" "$EXIT_NOT_SET_UP"; }
# pre_deploy TEXT: the pre-deploy hook, in the live release (its RELEASE and REVISION exported); a
# first deploy has none (TJ's had a checkout), so it is skipped with a warning.
pre_deploy() {
  if [ -d "$CURRENT/" ]; then
    RELEASE=$(cd "$CURRENT" && pwd -P) REVISION=$(head -c 100 "$CURRENT/REVISION" 2>/dev/null)
    export RELEASE REVISION
    hook pre-deploy "$CURRENT" "$1"
  else
    warn "pre-deploy skipped: nothing is live yet, so there is no release to run it in"
  fi
}
# build_release ID SHA: a fresh tree from the mirror, REVISION, shared links, the build commands.
build_release() {
  R="$RELEASES/$1"
  step release
  printf '%s\n' "$1" >"$L/$LOCK_BUILDING" || fail release "cannot write in $L"
  if ! { mkdir -p -- "$RELEASES" && mkdir -- "$R"; } 2>/dev/null; then
    rm -f -- "$L/$LOCK_BUILDING"  # not ours to remove
    fail release "cannot create $R (exists already?)"
  fi
  # This run's log now belongs to the release: it lives and goes with it (prune, clean-up).
  if [ -n "$RUNLOG" ] && (umask 077 && mkdir -p -- "$RUN_LOGS") 2>/dev/null &&
    mv -- "$RUNLOG" "$RUN_LOGS/$1.log" 2>/dev/null; then
    RUNLOG="$RUN_LOGS/$1.log"
  fi
  bg fill_release "$R" "$2" || exit  # it says why (fail) itself
  [ ! -L "$R/REVISION" ] || fail release "the repository's REVISION is a symlink; refusing to write through it"
  # shellcheck disable=SC2015  # meant: fail when any of the three fails
  rm -f -- "$R/REVISION" && printf '%s\n' "$2" >"$R/REVISION" && [ -s "$R/REVISION" ] ||
    fail release "cannot write $R/REVISION"
  export RELEASE=$R REVISION=$2
  link_releases_shared
  link_shared
  if [ -n "$BUILD" ]; then hook build "$R" "$BUILD"; fi
}
# real PATH: PATH with every symlink resolved (missing parts kept as they are written).
real() { readlink -m -- "$1"; }
# within PATH ROOT...: PATH, resolved, lies inside one of the ROOTs (resolved).
within() {
  local path root
  path=$(real "$1") || return 1
  shift
  for root; do
    root=$(real "$root") || continue
    case $path/ in "$root"/*) return 0 ;; esac
  done
  return 1
}
link_shared() {
  local item name
  [ ${#SHARED_ITEMS[@]} -gt 0 ] || return 0
  step shared
  for item in "${SHARED_ITEMS[@]}"; do
    name=${item%/}
    if [ "$item" != "$name" ]; then
      mkdir -p -- "$SHARED/$name" || fail shared "cannot create $SHARED/$name"
    elif [ ! -e "$SHARED/$name" ]; then
      fail shared "shared file $SHARED/$name does not exist; create it on the server"
    fi
    if within "$R/$(dirname -- "$name")" "$SHARED"; then
      continue  # reached through a shared directory linked already
    fi
    within "$R/$(dirname -- "$name")" "$R" ||
      fail shared "the release's path to $name leads outside it (a symlink in the repository?); refusing"
    # shellcheck disable=SC2015  # meant: fail when any of the three fails
    rm -rf -- "${R:?}/$name" && mkdir -p -- "$(dirname -- "$R/$name")" &&
      ln -s -- "$SHARED/$name" "$R/$name" || fail shared "cannot link $name"
  done
}
live_release() {
  local target
  target=$(readlink -- "$CURRENT" 2>/dev/null) || return 1
  target=${target##*/}
  valid_id "$target" && printf '%s' "$target"
}
# read_live: PREV (the live release, or empty) and PREV_LINK (what current points at, verbatim,
# to be put back as it was even when it is not a release of ours).
read_live() {
  PREV=$(live_release) || PREV=""
  PREV_LINK=$(readlink -- "$CURRENT" 2>/dev/null) || PREV_LINK=""
  if [ -n "$PREV_LINK" ] && [ -z "$PREV" ]; then warn "current points at $PREV_LINK, not at a release"; fi
}
# report_history: what is live, what current points at, the releases on disk and the last lines
# of .deploys, as value and line markers (status, revert; remote/readback.py reads them).
report_history() {
  local d line
  value live "$(live_release)"
  value link "$(readlink -- "$CURRENT" 2>/dev/null | head -c 1000)"
  for d in "$RELEASES"/*/; do [ -d "$d" ] && d=${d%/} && mark "line releases ${d##*/}"; done
  if [ -f "$DEPLOYS" ]; then
    tail -n 2000 -- "$DEPLOYS" | cut -c 1-2000 | while IFS= read -r line; do mark "line deploys $line"; done
  fi
}
# report_setup: `value setup yes` where setup was done.
report_setup() { if [ -d "$SET_UP" ]; then value setup yes; fi; }
# report_lock: who holds the lock, when it is a directory.
report_lock() { if [ -d "$L" ]; then value lock "$(lock_owner)"; fi; }
# switch ID ACTION: make the links for the switch and its undo first (no space is needed after),
# log the release, then rename the new link over current: one atomic step for every reader.
# ACTION (deploy, revert) is kept for `back`.
switch() {
  local size
  ACTION=$2
  step switch
  size=$(stat -c %s -- "$DEPLOYS" 2>/dev/null || echo 0)
  ln -sfn -- "releases/$1" "$NEXT_CURRENT" || fail switch "cannot create a link in $P"
  rm -f -- "$BACK_CURRENT"
  if [ -n "$PREV_LINK" ]; then
    ln -sfn -- "$PREV_LINK" "$BACK_CURRENT" || fail switch "cannot create a link in $P"
  fi
  printf '%s\n' "$1" "$SHA" "$REF" "$PREV" "$2" "$size" bad >"$L/$LOCK_SWITCHING" ||
    fail switch "cannot write in $L"
  log "$SHA" "$1" "$REF" "$2" ok || fail switch "cannot append to $DEPLOYS"
  PHASE=live
  if ! mv -T -- "$NEXT_CURRENT" "$CURRENT"; then
    PHASE=build
    truncate -s "$size" -- "$DEPLOYS"
    fail switch "cannot point $CURRENT at releases/$1"
  fi
  rm -f -- "$L/$LOCK_BUILDING"
  value live "$1"
}
# checked: the live release passed every check; nothing to switch back to any more.
checked() {
  PHASE="done"
  rm -f -- "$L/$LOCK_SWITCHING" "$BACK_CURRENT"
  value checked yes
}
# log SHA ID REF ACTION OUTCOME: one line of .deploys (full SHA first, as TJ's tools expect),
# whole or not at all: a write a full disk cuts short is taken back, so that the next line is
# never glued to a part of this one.
log() {
  local size
  history_whole
  size=$(stat -c %s -- "$DEPLOYS" 2>/dev/null || echo 0)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$2" "$3" "$WHO" "$4" "$5" \
    >>"$DEPLOYS" && return 0
  truncate -s "$size" -- "$DEPLOYS" 2>/dev/null
  return 1
}
# history_whole: cut off a last line of .deploys that has no end (its writer died mid-line).
history_whole() {
  local last
  [ -s "$DEPLOYS" ] && [ -n "$(tail -c 1 -- "$DEPLOYS")" ] || return 0
  last=$(tail -n 1 -- "$DEPLOYS" | wc -c)
  truncate -s "$(($(stat -c %s -- "$DEPLOYS") - last))" -- "$DEPLOYS" 2>/dev/null || :
}
# back STEP WHY: STEP failed after the switch (or a signal came): switch back to what was live,
# then fail with WHY and EXIT_SWITCHED_BACK.
back() {
  warn "$1 failed; switching back to ${PREV:-${PREV_LINK:-no release}}"
  switch_back "$ACTION"
  fail "$1" "$2" "$EXIT_SWITCHED_BACK"
}
# restart_back: restart PREV after a switch back, by the restart strategy: the call the header
# puts in RESTART_BACK (remote/restart.py; `:` in a script that runs no user command).
restart_back() { "${RESTART_BACK[@]}"; }
# switch_back ACTION: put back what was live before ID (or no current when there was none),
# restart it, log it live again and mark ID with MARK (bad; "" marks nothing) in .deploys. When
# even the mark cannot be written (a full disk), the line that said ID went live is cut off
# instead, so the history never claims it. Resumable: the switching record stays in the lock until the history
# says it all, so a signal (on_signal) or the guard, after a SIGKILL, runs it again, and each part
# is done only if it was not done yet (current still at ID; the lines not yet the last ones).
switch_back() {
  local sha size mark=$MARK
  PHASE=back
  if [ "$(live_release)" = "$ID" ]; then
    if [ -L "$BACK_CURRENT" ]; then
      mv -T -- "$BACK_CURRENT" "$CURRENT" || warn "cannot switch $CURRENT back"
    else
      rm -f -- "$CURRENT"
    fi
  fi
  if [ -n "$PREV" ] && [ -d "$RELEASES/$PREV" ]; then restart_back; fi
  if [ -z "$mark" ] || ! history_ends "$ID" "$1" "$mark"; then
    if [ -n "$PREV" ] && [ -d "$RELEASES/$PREV" ] && ! history_ends "$PREV" rollback ok; then
      sha=$(head -c 100 -- "$RELEASES/$PREV/REVISION" 2>/dev/null)
      valid_sha "$sha" || sha=unknown
      log "$sha" "$PREV" - rollback ok || warn "could not append to $DEPLOYS"
    fi
    if [ -n "$mark" ] && ! log "$SHA" "$ID" "${REF:--}" "$1" "$mark"; then
      size=${SIZE:-}
      [ -z "$size" ] || truncate -s "$size" -- "$DEPLOYS"
      warn "could not append to $DEPLOYS; removed its line for $ID instead"
    fi
  fi
  PHASE="done"
  rm -f -- "$L/$LOCK_SWITCHING"
}
# history_ends ID ACTION OUTCOME: the last line of .deploys is that event of that release.
history_ends() {
  [ "$(tail -n 1 -- "$DEPLOYS" 2>/dev/null | cut -f 3,6,7)" = "$1"$'\t'"$2"$'\t'"$3" ]
}
# health URL DEADLINE: poll an HTTP URL from the server until it answers 2xx/3xx, or give up.
health_get() {
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 5 -- "$1" 2>/dev/null
  else
    python3 -c 'import sys,urllib.request as u; u.urlopen(sys.argv[1], timeout=5)' "$1" 2>/dev/null
  fi
}
health() {
  local deadline=$((SECONDS + $2))
  step health
  while :; do
    bg health_get "$1" && return 0
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}
# check_health URL SECONDS: the health check after a switch; switch back when URL did not answer.
check_health() { health "$1" "$2" || back health "$1 did not answer in time"; }
# prune CURRENT PREVIOUS: keep the KEEP_RELEASES most recently used releases (by their last line
# in .deploys; dirs not in it count as oldest), and never CURRENT or PREVIOUS. Only directories
# named like a release are candidates, whatever .deploys says.
prune() {
  local old
  step prune
  { ls -1 -- "$RELEASES"; cut -s -f3 -- "$DEPLOYS" 2>/dev/null; } |
    awk 'NF { last[$0] = NR } END { for (r in last) print last[r] "\t" r }' | sort -n | cut -f2- |
    while IFS= read -r old; do
      if valid_id "$old" && [ -d "$RELEASES/$old" ] && [ ! -L "$RELEASES/$old" ]; then printf '%s\n' "$old"; fi
    done |
    head -n -"$KEEP_RELEASES" | while IFS= read -r old; do
      if [ "$old" = "$1" ] || [ "$old" = "$2" ]; then continue; fi
      rm -rf -- "${RELEASES:?}/$old" || warn "could not remove old release $old"
    done
  for old in "$RUN_LOGS"/*.log "$ETAGS"/*; do  # the logs (and ETags) of releases gone
    old=${old##*/} && old=${old%.log}
    if valid_id "$old" && [ ! -d "$RELEASES/$old" ]; then rm -f -- "$RUN_LOGS/$old.log" "$ETAGS/$old"; fi
  done
  # artifacts that came and were never unpacked (a deploy stopped before): gone after an hour
  if [ -d "$UPLOADS" ]; then find "$UPLOADS" -maxdepth 1 -type f -mmin +60 -delete 2>/dev/null || :; fi
}
# The repo-token's bash library (part of the git source's: sources/git.py), header from
# config/credentials.py, which says why each setting is there. Needs, set but NOT exported:
# REPO_TOKEN and REPO_TOKEN_SCOPE (https://host[:port] of REPO); REPO_TOKEN_HELPER, the text of the
# credential helper; REPO_TOKEN_ENV and REPO_TOKEN_SCOPE_ENV, the names under which that helper
# reads the token and the scope from git's environment. Without REPO_TOKEN, git runs as it is.

# git_auth ARGS...: git ARGS..., offered REPO_TOKEN for REPO_TOKEN_SCOPE by a helper of this one command.
git_auth() {
  local name
  if [ -z "${REPO_TOKEN-}" ]; then git "$@" </dev/null; return; fi
  for name in REPO_TOKEN_SCOPE REPO_TOKEN_HELPER REPO_TOKEN_ENV REPO_TOKEN_SCOPE_ENV; do
    if [ -z "${!name-}" ]; then
      echo "git_auth: REPO_TOKEN is set but $name is not" >&2
      return 2
    fi
  done
  # In the environment of git and its children only (exported by this function's scope, never on
  # a command line); the helper's text names the variables, never the token.
  local -x "$REPO_TOKEN_ENV=$REPO_TOKEN" "$REPO_TOKEN_SCOPE_ENV=$REPO_TOKEN_SCOPE"
  GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=false GIT_TRACE_REDACT=1 \
    git -c credential.helper= -c "credential.helper=$REPO_TOKEN_HELPER" "$@" </dev/null
}
# The git source's bash library (sources/git.py): the mirror in REPO_DIR, fetched from REPO. Needs
# prelude.sh (step, value, fail, bg, mark), credentials.sh (git_auth) and, for git_identify, REF.
# git_repo ARGS...: git on the mirror, with no input.
git_repo() { git --git-dir="$REPO_DIR" "$@" </dev/null; }
# git_remote: git on the mirror for what talks to the remote, with repo-token's helper (git_auth).
git_remote() { git_auth --git-dir="$REPO_DIR" "$@" </dev/null; }
# fetch: the mirror brought up to date from REPO (its URL set again: repo may have changed).
fetch() {
  step fetch
  # shellcheck disable=SC2015  # meant: fail when either of the two fails
  git_repo remote set-url origin "$REPO" && bg git_remote fetch --prune --quiet origin >&2 ||
    fail fetch "git fetch in $REPO_DIR failed (is 'repo' reachable from the server?)"
}
# resolve REF: print the full SHA of a tag, branch (the remote's, fetched into the mirror) or SHA.
# TJ's `origin/BRANCH` is the remote's BRANCH (the mirror's branches are the remote's), and
# `origin/HEAD` the remote's default branch, asked of the remote itself.
resolve() {
  local candidate ref=$1
  if [ "$ref" = origin/HEAD ]; then
    ref=$(git_remote ls-remote --symref origin HEAD 2>/dev/null | sed -n 's|^ref: refs/heads/\(.*\)\tHEAD$|\1|p')
    [ -n "$ref" ] || return 1
  fi
  ref=${ref#origin/}
  for candidate in "refs/tags/$ref" "refs/heads/$ref" "$ref"; do
    git_repo rev-parse -q --verify "$candidate^{commit}" 2>/dev/null && return 0
  done
  return 1
}
# refs_known: the branch and tag names of the mirror, for a "did you mean" (at most 1000).
refs_known() {
  git_repo for-each-ref --format='%(refname:strip=2)' refs/heads refs/tags | head -n 1000 |
    while IFS= read -r name; do mark "line refs $name"; done
}
# newest_tag: print the name of the newest tag, if any. Among the tags that look like versions (an
# optional v, dot-separated numbers, perhaps a semver pre-release `-rc.1` and build `+b7`), the
# highest version, as `sort -V` orders them, a pre-release before its release (ties such as v1.2
# and 1.2: the later creation date). With no such tag, the latest creation date (ties: the highest
# version). Dates alone would let an older-dated lightweight v1.1 lose to v1.0.
newest_tag() {
  local name when rank newest
  newest=$(git_repo for-each-ref --format='%(refname:strip=2) %(creatordate:unix)' refs/tags |
    while read -r name when; do
      [[ $name =~ ^v?([0-9]+(\.[0-9]+)*)(-([0-9A-Za-z.-]+))?(\+[0-9A-Za-z.-]+)?$ ]] || continue
      rank=1 # a release sorts after its pre-releases (rank 0)
      [ -z "${BASH_REMATCH[3]}" ] || rank=0
      printf '%s\t%s\t%s\t%s\t%s\n' "${BASH_REMATCH[1]}" "$rank" "${BASH_REMATCH[4]}" "$when" "$name"
    done | LC_ALL=C sort -t "$(printf '\t')" -k1,1V -k2,2n -k3,3V -k4,4n -k5,5 | tail -n 1 | cut -f 5)
  if [ -z "$newest" ]; then
    newest=$(git_repo for-each-ref --sort=-v:refname --sort=-creatordate --count=1 --format='%(refname:strip=2)' refs/tags)
  fi
  printf '%s\n' "$newest"
}
# git_check: setup's check that git is on the server.
git_check() { command -v git >/dev/null || fail check "git is not installed on the server"; }
# git_mirror: setup's mirror, REPO_DIR: fetched when it exists, else cloned from REPO via a scratch name.
git_mirror() {
  step mirror
  if [ -d "$REPO_DIR" ]; then
    fetch
  else
    # shellcheck disable=SC2015  # meant: fail when any of the three fails
    rm -rf -- "$P/.repo.tmp" && bg git_auth clone --mirror --quiet -- "$REPO" "$P/.repo.tmp" >&2 &&
      mv -T -- "$P/.repo.tmp" "$REPO_DIR" || fail mirror "git clone --mirror failed (is repo reachable from the server?)"
  fi
}
# git_identify: REF (the newest tag when empty) and its commit in the fetched mirror, SHA; says both.
git_identify() {
  step resolve
  if [ -z "$REF" ]; then REF=$(newest_tag); fi
  [ -n "$REF" ] || fail resolve "no ref was given and the repository has no tags"
  value ref "$REF"
  SHA=$(resolve "$REF") || { refs_known; fail resolve "no branch, tag or commit named '$REF' in the repository" "$EXIT_NO_REF"; }
  value sha "$SHA"
}
# fill_release DIR SHA: the commit's tree, as git archive gives it.
fill_release() { git_repo archive --format=tar "$2" | tar -x -C "$1" || fail release "git archive of $2 failed"; }
# The restart strategies' bash (remote/restart.py picks one per environment and calls it): how the
# release ID comes into service after the switch (restart_by_*), and how PREV does after a switch
# back (restart_back_by_*: the header's RESTART_BACK, which prelude.sh's restart_back runs). A
# failure going live switches back (`back`); one coming back only warns. Needs prelude.sh (step,
# warn, back, bg, user_shell, within, relay), RESTART_FILE, RELEASES and SHARED; the monitor's
# functions need service.sh (monitor_run).

# touch_restart ID: touch the restart file of release ID, never through a symlink leading out of
# the release or the shared directory.
touch_restart() {
  local file="$RELEASES/$1/$RESTART_FILE"
  if ! within "$file" "$RELEASES/$1" "$SHARED"; then
    warn "the restart file of $1 leads outside the release (a symlink in the repository?); not touched"
    return 1
  fi
  mkdir -p -- "$(dirname -- "$file")" && touch -- "$file"
}
# restart_by_touch: `restart = touch`: touch ID's restart file (the app, or the monitor running
# it, watches it); switch back when it cannot be touched.
restart_by_touch() {
  step restart
  touch_restart "$ID" || back restart "cannot touch $RESTART_FILE"
}
# restart_back_by_touch: touch PREV's restart file after a switch back.
restart_back_by_touch() { touch_restart "$PREV" || warn "cannot touch the restart file of $PREV"; }
# restart_back_by_command TEXT: run the restart command TEXT in PREV after a switch back (going
# live, it runs as the `restart` hook).
restart_back_by_command() { bg user_shell "$RELEASES/$PREV" "$1" || warn "restarting $PREV failed"; }
# restart_by_monitor ZIPAPP CONFIG WAIT START_TIMEOUT LINES: `restart = monitor`: reload the
# monitor at ZIPAPP into ID and wait (WAIT seconds) for its verdict, or start it (START_TIMEOUT)
# when it is not running; when it fails, show why (monitor_logs LINES), then switch back with its
# last word. RELOADED: a new generation took over.
restart_by_monitor() {
  local out rc
  out=$(monitor_run "$1" "$2" reload --wait "$3" 2>&1)
  rc=$?
  if [ "$rc" = "$MONITOR_NOT_RUNNING" ]; then
    out=$(monitor_run "$1" "$2" start --timeout "$4" 2>&1)
    rc=$?
  fi
  if [ "$rc" != 0 ]; then
    monitor_logs "$1" "$2" "$5"
    back restart "monitor: $(printf '%s' "$out" | tail -n 1)"
  fi
  RELOADED=1
}
# monitor_logs ZIPAPP CONFIG LINES: the last LINES lines of the monitor's log and of the app's (its
# workers' output), each under its path, as output of the step: why the app did not get ready.
monitor_logs() { monitor_run "$1" "$2" logs -n "$3" 2>&1 </dev/null | relay || :; }
# restart_back_by_monitor ZIPAPP CONFIG WAIT: after a switch back, reload the monitor into PREV,
# only if the new generation had taken over: after a failed reload the old one never stopped
# serving PREV.
restart_back_by_monitor() {
  [ "${RELOADED:-0}" = 1 ] || return 0
  monitor_run "$1" "$2" reload --wait "$3" >/dev/null 2>&1 || warn "the monitor could not reload $PREV"
}
# Going back (remote/scripts.py: revert and rollback): the release the client picked from the
# history, rebuilt when it was pruned; and the rollback of a fleet deploy that failed elsewhere.
# Needs prelude.sh (await_word, fail, value, warn, valid_id, valid_sha, live_release, build_release,
# switch_back) and the header's paths; revert_tj needs git.sh (fetch, git_repo) and release.sh.

# revert_pick: say the history was read and wait for the client's pick, `to TJ ID SHA REF` (read by
# the client from that history: rollout.pick), into TJ ID SHA REF; fail when none came.
revert_pick() {
  value asked yes
  await_word
  read -r TJ ID SHA REF <<<"${WORD#to }"
  [ "${WORD%% *}" = to ] || fail revert "no release was picked"
}
# revert_tj STAMP SHORT: when the pick is a line of TJ's deploy (TJ=1), make its short SHA whole
# from the mirror and name a release for it in this run (new_release_id STAMP SHORT).
revert_tj() {
  [ "$TJ" = 1 ] || return 0
  [[ $SHA =~ ^[0-9a-f]{4,64}$ ]] || fail revert "not a commit: $SHA"
  fetch
  SHA=$(git_repo rev-parse -q --verify "$SHA^{commit}") || fail revert "commit $SHA is not in the repository"
  new_release_id "$1" "$2"
}
# revert_tj_refused: a pick of TJ's deploy (git) where artifacts are deployed cannot be made.
revert_tj_refused() {
  [ "$TJ" = 1 ] || return 0
  fail revert "that line is from TJ's deploy, of git; this environment deploys artifacts"
}
# revert_check: the pick is a release ID and a commit; say what goes live in place of what, and
# export its RELEASE and REVISION for the hooks.
revert_check() {
  if ! { valid_id "$ID" && valid_sha "$SHA"; }; then fail revert "not a release and commit: $ID $SHA"; fi
  value release "$ID"
  value sha "$SHA"
  value ref "$REF"
  value previous "$PREV"
  # shellcheck disable=SC2153  # RELEASES is set by the header (scripts.py), not a typo of RELEASE
  export RELEASE="$RELEASES/$ID" REVISION=$SHA
}
# rebuild_pruned STEP...: when release ID was pruned, say so, run STEP (the source's: git fetches,
# an artifact refuses) and build the release again from SHA.
rebuild_pruned() {
  [ ! -d "$RELEASES/$ID" ] || return 0
  warn "release $ID was pruned; rebuilding it from $SHA"
  "$@"
  build_release "$ID" "$SHA"
}
# rollback_release ID PREV ACTION MARK: undo ACTION (deploy, revert) of ID that went live here while
# it failed on another host: current back to PREV (or none), ID marked MARK ("" for none); nothing is
# changed unless ID is what is live, and it is done already when PREV is (its own guard switched it
# back, or it never switched). The switching record comes first, as for a switch, so that a
# SIGKILL midway leaves the guard to finish it.
rollback_release() {
  local live
  ID=$1 PREV=$2 ACTION=$3 MARK=$4 REF=-
  if ! { valid_id "$ID" && { [ -z "$PREV" ] || valid_id "$PREV"; }; }; then fail rollback "not a release: $ID"; fi
  SHA=$(head -c 100 "$RELEASES/$ID/REVISION" 2>/dev/null)
  valid_sha "$SHA" || SHA=unknown
  live=$(live_release) || live=""
  step rollback
  if [ "$live" = "$PREV" ] && [ "$live" != "$ID" ]; then
    warn "$ID is not live here; ${PREV:-nothing} is, as before: nothing to undo"
    value unchanged yes
    return 0
  fi
  [ "$live" = "$ID" ] || fail rollback "current is ${live:-nothing}, not $ID; left as it is"
  rm -f -- "$BACK_CURRENT"
  if [ -n "$PREV" ]; then
    ln -sfn -- "releases/$PREV" "$BACK_CURRENT" || fail rollback "cannot create a link in $P"
  fi
  printf '%s\n' "$ID" "$SHA" "$REF" "$PREV" "$ACTION" "" "$MARK" >"$L/$LOCK_SWITCHING" ||
    fail rollback "cannot write in $L"
  switch_back "$ACTION"
}
beats_start
step lock
lock_take 60 120
rollback_release 20240102T030405Z-0123456 20240101T000000Z-89abcde deploy bad
OK=1
mark done
}
main 3<&0 </dev/null; exit
