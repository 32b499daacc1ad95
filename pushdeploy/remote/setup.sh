# What `pushdeploy ENV setup` makes of a server (remote/scripts.py: setup). Needs prelude.sh
# (step, fail) and the header's paths.

# setup_check_bash: bash 4 or newer runs the scripts; fail the check on an older one.
setup_check_bash() {
  [ "${BASH_VERSINFO[0]}" -ge 4 ] || fail check "bash 4 or newer is needed on the server"
}
# setup_check_path: P exists (made now if need be) and this user can write in it, so that the
# lock (under P) can be taken; else fail naming P, the user and the fix, which a lock that
# cannot be made would not (it would read as another deploy holding it).
setup_check_path() {
  local who
  if mkdir -p -- "$P" 2>/dev/null && [ -w "$P" ] && [ -x "$P" ]; then return 0; fi
  who=$(id -un 2>/dev/null) || who=${USER:-the login user}
  fail check "cannot create or write $P as $who (permission denied, or a file in its way): create it and give it to $who, e.g. sudo install -d -o $who $(printf '%q' "$P")"
}
# setup_directories LOGS PIDS [SHARED_DIR...]: the releases, LOGS, PIDS and the state directory,
# and each SHARED_DIR (relative to P: the `shared` items that are directories).
setup_directories() {
  step directories
  mkdir -p -- "$RELEASES" "$1" "$2" "$STATE" || fail directories "cannot create the directories under $P"
  if [ $# -gt 2 ]; then
    (cd "$P" && mkdir -p -- "${@:3}") || fail directories "cannot create shared dirs"
  fi
}
