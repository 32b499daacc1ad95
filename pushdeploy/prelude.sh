# pushdeploy's bash library: sent at the top of every generated script (see scripts.py).
# Needs P (deploy root), the paths under it (REPO_DIR, RELEASES, CURRENT, SHARED, DEPLOYS, STATE,
# L: the lock dir; named from layout.py by the header), TOKEN, OWNER and WHO. Markers go to stdout
# (protocol.py); everything else, hook and build output included, goes to stderr.
set -u -o pipefail
umask 022
OK=0 CLEAN="" REFRESH=""

mark() { printf '::pushdeploy::%s\n' "$*"; }
step() { mark "step $1"; }
value() { mark "value $1 $2"; }
warn() { mark "warn $*"; }
fail() { mark "fail $1 $2"; exit "${3:-1}"; }

on_exit() {
  local rc=$?
  [ -z "$REFRESH" ] || kill "$REFRESH" 2>/dev/null
  if [ "$OK" != 1 ] && [ -n "$CLEAN" ]; then rm -rf -- "$CLEAN"; fi
  if [ "$OK" != 1 ] || [ "${KEEP_LOCK:-0}" != 1 ]; then lock_drop; fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 129' HUP
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 141' PIPE  # the client went away: still clean up (the EXIT trap)

# user_shell TEXT: replace this (sub)shell with bash -e running user text, the user's env added.
user_shell() { exec env -- "${USER_ENV[@]}" bash -e -c "$1"; }
# hook NAME DIR TEXT [ON_FAIL]: run user text with bash -e in DIR; stdout goes to stderr.
hook() {
  local rc=0
  step "$1"
  (cd "$2" && user_shell "$3") </dev/null >&2 || rc=$?
  if [ "$rc" != 0 ]; then "${4:-fail}" "$1" "'$1' exited with status $rc"; fi
}

lock_owner() { cat "$L/owner" 2>/dev/null || echo "unknown holder"; }
lock_mine() { [ "$(cat "$L/token" 2>/dev/null)" = "$TOKEN" ]; }
lock_drop() { if lock_mine; then rm -rf -- "$L"; fi; }
lock_refresh() {
  (while sleep 20; do touch "$L/owner" 2>/dev/null || exit 0; done) </dev/null >/dev/null 2>&1 &
  REFRESH=$!
}
# lock_take WAIT_SECONDS STALE_SECONDS: atomic mkdir; a lock not refreshed for STALE is taken over.
lock_take() {
  local deadline=$((SECONDS + $1)) now mtime
  mkdir -p -- "$STATE" 2>/dev/null || fail lock "cannot create $STATE"
  while :; do
    if mkdir -- "$L" 2>/dev/null; then
      printf '%s\n' "$OWNER" >"$L/owner" && printf '%s\n' "$TOKEN" >"$L/token" || fail lock "cannot write the lock"
      lock_refresh
      return 0
    fi
    now=$(date +%s)
    mtime=$(stat -c %Y -- "$L/owner" 2>/dev/null || stat -c %Y -- "$L" 2>/dev/null || echo "$now")
    if [ $((now - mtime)) -gt "$2" ]; then
      warn "took over a stale lock (not refreshed for $((now - mtime))s) held by $(lock_owner)"
      mv -T -- "$L" "$L.stale.$$" 2>/dev/null && rm -rf -- "$L.stale.$$"
      continue
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      value holder "$(lock_owner)"
      fail lock "locked by $(lock_owner)" 75
    fi
    sleep 1
  done
}
lock_check() {
  lock_mine || fail lock "the deploy lock is no longer ours (now: $(lock_owner))" 76
  lock_refresh
}

git_repo() { git --git-dir="$REPO_DIR" "$@" </dev/null; }
fetch() {
  step fetch
  git_repo remote set-url origin "$REPO" && git_repo fetch --prune --quiet origin >&2 ||
    fail fetch "git fetch in $REPO_DIR failed (is 'repo' reachable from the server?)"
}
# resolve REF: print the full SHA of a tag, branch (the remote's, fetched into the mirror) or SHA.
resolve() {
  local candidate
  for candidate in "refs/tags/$1" "refs/heads/$1" "$1"; do
    git_repo rev-parse -q --verify "$candidate^{commit}" 2>/dev/null && return 0
  done
  return 1
}
newest_tag() {
  git_repo for-each-ref --sort=-v:refname --sort=-creatordate --count=1 --format='%(refname:strip=2)' refs/tags
}
# build_release ID SHA: a fresh tree from the mirror, REVISION, shared links, the build commands.
build_release() {
  R="$RELEASES/$1"
  step release
  mkdir -p -- "$RELEASES" && mkdir -- "$R" 2>/dev/null || fail release "cannot create $R (exists already?)"
  CLEAN=$R
  git_repo archive --format=tar "$2" | tar -x -C "$R" || fail release "git archive of $2 failed"
  printf '%s\n' "$2" >"$R/REVISION"
  export RELEASE=$R REVISION=$2
  link_shared
  if [ -n "$BUILD" ]; then hook build "$R" "$BUILD"; fi
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
    rm -rf -- "$R/$name" && mkdir -p -- "$(dirname -- "$R/$name")" &&
      ln -s -- "$SHARED/$name" "$R/$name" || fail shared "cannot link $name"
  done
}
switch_to() {
  ln -sfn -- "releases/$1" "$P/.current.$$" && mv -T -- "$P/.current.$$" "$CURRENT" ||
    fail switch "cannot point $CURRENT at releases/$1"
}
live_release() { local t; t=$(readlink -- "$CURRENT" 2>/dev/null) && printf '%s' "${t##*/}"; }
# log SHA ID REF ACTION OUTCOME: one line of .deploys (full SHA first, as TJ's tools expect).
log() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$2" "$3" "$WHO" "$4" "$5" \
    >>"$DEPLOYS" || warn "could not append to $DEPLOYS"
}
# switch_back ACTION: make PREV live again (or remove current when there was none), restart it,
# and mark ID bad in .deploys. Used when a release failed after going live.
switch_back() {
  if [ -n "$PREV" ] && [ -d "$RELEASES/$PREV" ]; then
    switch_to "$PREV"
    restart_back
    log "$(cat "$RELEASES/$PREV/REVISION" 2>/dev/null || echo unknown)" "$PREV" - rollback ok
  else
    rm -f -- "$CURRENT"
  fi
  log "$SHA" "$ID" "${REF:--}" "$1" bad
}
touch_restart() {
  mkdir -p -- "$(dirname -- "$RELEASES/$1/$RESTART_FILE")" && touch -- "$RELEASES/$1/$RESTART_FILE"
}
# health URL DEADLINE: poll an HTTP URL from the server until it answers 2xx/3xx, or give up.
health() {
  local deadline=$((SECONDS + $2))
  step health
  while :; do
    if command -v curl >/dev/null; then
      curl -fsS -o /dev/null --max-time 5 -- "$1" 2>/dev/null && return 0
    else
      python3 -c 'import sys,urllib.request as u; u.urlopen(sys.argv[1], timeout=5)' "$1" 2>/dev/null && return 0
    fi
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}
# prune CURRENT PREVIOUS: keep the KEEP_RELEASES most recently used releases (by their last line
# in .deploys; dirs not in it count as oldest), and never CURRENT or PREVIOUS.
prune() {
  local old
  step prune
  { ls -1 -- "$RELEASES"; cut -s -f3 -- "$DEPLOYS" 2>/dev/null; } |
    awk 'NF { last[$0] = NR } END { for (r in last) print last[r] "\t" r }' | sort -n | cut -f2- |
    while IFS= read -r old; do if [ -d "$RELEASES/$old" ]; then printf '%s\n' "$old"; fi; done |
    head -n -"$KEEP_RELEASES" | while IFS= read -r old; do
      if [ "$old" = "$1" ] || [ "$old" = "$2" ]; then continue; fi
      rm -rf -- "${RELEASES:?}/$old" || warn "could not remove old release $old"
    done
}
