# What `pushdeploy ENV setup` makes of a server (remote/scripts.py: setup). Needs prelude.sh
# (step, fail) and the header's paths.

# setup_check_bash: bash 4 or newer runs the scripts; fail the check on an older one.
setup_check_bash() {
  [ "${BASH_VERSINFO[0]}" -ge 4 ] || fail check "bash 4 or newer is needed on the server"
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
