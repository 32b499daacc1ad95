# The doctor's checks (remote/doctor.py calls them; cli/doctor.py reads what they say): read-only,
# no lock, nothing changed. They report as markers: `value NAME TEXT`, `line tool NAME [WHERE]` and
# `line problem WHY` (what would stop a deploy). Needs prelude.sh (mark, value, live_release,
# lock_owner), the header's paths, SET_UP and USER_ENV; for git, REPO and git_auth (credentials.sh).

# doctor_problem WHY...: say what would stop a deploy.
doctor_problem() { mark "line problem $*"; }
# doctor_user_env CMD...: CMD in the environment hooks get (the user's env), without input or errors.
doctor_user_env() { ( if [ ${#USER_ENV[@]} -gt 0 ]; then export "${USER_ENV[@]}" || exit; fi; "$@" ) </dev/null 3<&- 2>/dev/null; }
# doctor_bounded SECONDS CMD...: CMD, stopped after SECONDS where timeout(1) is installed.
doctor_bounded() { if command -v timeout >/dev/null; then timeout "$@"; else "${@:2}"; fi; }
# doctor_shell: who deploys (DOCTOR_ME), the PATH of this shell and of the hooks, and bash 4 or newer.
doctor_shell() {
  DOCTOR_ME=$(id -un 2>/dev/null || echo "this user")
  value user "$DOCTOR_ME"
  value path "$PATH"
  value hook_path "$(doctor_user_env printenv PATH)"
  value bash "$BASH_VERSION"
  [ "${BASH_VERSINFO[0]}" -ge 4 ] || doctor_problem "bash $BASH_VERSION is too old: pushdeploy needs 4 or newer"
}
# doctor_git: git, which a git deploy runs, on the PATH of a non-interactive shell.
doctor_git() {
  if command -v git >/dev/null; then value git "$(git --version 2>&1 | head -n 1)"
  else doctor_problem "git is not on the PATH of a non-interactive shell ($PATH)"; fi
}
# doctor_artifact: python3 and sha256sum, which an artifact deploy runs.
doctor_artifact() {
  command -v python3 >/dev/null || doctor_problem "python3 is not installed: artifacts are unpacked with it"
  command -v sha256sum >/dev/null || doctor_problem "sha256sum (coreutils) is not installed"
}
# doctor_tools NAME...: where each command the hooks name is on the hooks' PATH, if anywhere.
doctor_tools() {
  local name where
  for name in "$@"; do
    if where=$(doctor_user_env command -v -- "$name"); then mark "line tool $name $where"; else mark "line tool $name"; fi
  done
}
# doctor_path: P and its directories writable (or P creatable in its nearest existing parent), and
# the free space and inodes of the disk holding them.
doctor_path() {
  local d base=$P n=0
  while [ ! -e "$base" ] && [ ! -L "$base" ] && [ "$base" != / ] && [ "$n" -lt 200 ]; do base=$(dirname -- "$base"); n=$((n + 1)); done
  value base "$base"
  if [ "$base" = "$P" ]; then
    [ -d "$P" ] || doctor_problem "$P exists but is not a directory"
    for d in "$P" "$RELEASES" "$SHARED" "$STATE" "$DEPLOYS"; do
      if [ -e "$d" ] && ! [ -w "$d" ]; then doctor_problem "$d is not writable by $DOCTOR_ME"; fi
    done
  elif ! { [ -d "$base" ] && [ -w "$base" ] && [ -x "$base" ]; }; then
    doctor_problem "$P does not exist and $DOCTOR_ME cannot create it in $base"
  fi
  value disk "$(df -Pk -- "$base" 2>/dev/null | awk 'NR == 2 { print $4 }')"
  value inodes "$(df -Pi -- "$base" 2>/dev/null | awk 'NR == 2 { print $2, $4 }')"
}
# doctor_agent: whether an SSH agent reached this session (forward-agent).
doctor_agent() { if [ -n "${SSH_AUTH_SOCK:-}" ]; then value agent yes; else value agent no; fi; }
# doctor_repo SECONDS: does REPO answer `git ls-remote --tags` from here (within SECONDS, unless
# repo-token's git_auth runs it: timeout(1) runs programs, not a function), whether it has a tag (what
# a deploy without `ref` takes), and if it does not answer, git's last word.
doctor_repo() {
  local out
  local git=(doctor_bounded "$1" git)
  command -v git >/dev/null || return 0
  if [ -n "${REPO_TOKEN-}" ]; then git=(git_auth); fi
  if out=$(GIT_TERMINAL_PROMPT=0 "${git[@]}" ls-remote --tags -- "$REPO" 2>&1 </dev/null); then
    value repo yes
    if [[ $out == *$'\t'refs/tags/* ]]; then value tags yes; else value tags no; fi
  else value repo no; value repo_error "$(printf '%s\n' "$out" | grep . | tail -n 1 | cut -c 1-300)"; fi
}
# doctor_state: whether setup was done here, the live release, and who holds the lock.
doctor_state() {
  if [ -d "$SET_UP" ]; then value setup yes; else value setup no; fi
  value live "$(live_release)"
  if [ -d "$L" ]; then value lock "$(lock_owner)"; fi
}
# doctor_health: curl or python3, one of which the health check needs.
doctor_health() {
  command -v curl >/dev/null || command -v python3 >/dev/null || doctor_problem "the health check needs curl or python3 on the server"
}
# doctor_monitor SECONDS ZIPAPP STATUS...: python3, which the monitor needs, and, once the monitor
# is installed at ZIPAPP, the exit status and first line of its status command STATUS.
doctor_monitor() {
  local out
  if command -v python3 >/dev/null; then value python "$(python3 --version 2>&1)"
  else doctor_problem "python3 is not installed: the monitor (app) needs it"; fi
  if [ ! -f "$2" ]; then value monitor_status none; return; fi
  out=$(doctor_bounded "$1" "${@:3}" 2>&1 </dev/null)
  value monitor_status "$?"
  value monitor "$(printf '%s\n' "$out" | grep . | head -n 1 | cut -c 1-300)"
}
