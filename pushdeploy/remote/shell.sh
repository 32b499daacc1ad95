# The commands run in the live release (remote/shell.py): `exec`'s command and `console`'s
# environment file. Sent unwrapped, inside `{ ... }` ahead of one call: no prelude.sh (exec's
# input is its command's, console's shell needs the terminal).

# no_release: say that nothing is live here, and exit 127.
no_release() {
  echo 'pushdeploy: no current release; deploy first' >&2
  exit 127
}
# exec_in_current CURRENT SHARED ENV_NAME COMMAND [NAME=VALUE...]: COMMAND (bash -c) in place of
# this shell, in CURRENT, with the hook variables and the user's env (NAME=VALUE) exported.
exec_in_current() {
  cd "$1/" 2>/dev/null || no_release
  RELEASE=$(pwd -P) REVISION=$(cat REVISION 2>/dev/null)
  export PUSHDEPLOY_ENV="$3" SHARED="$2" RELEASE REVISION
  if [ $# -gt 4 ]; then export "${@:5}"; fi
  exec bash -c "$4"
}
# console_env CURRENT STATE FILE TEXT: TEXT (the console's cd and exports, which its login shell
# sources and which deletes itself) into FILE, mode 0600; console files over 10 minutes old go.
console_env() {
  [ -d "$1/" ] || no_release
  find "$2" -maxdepth 1 -type f -name 'console-*' -mmin +10 -delete 2>/dev/null
  if ! { mkdir -p -- "$2" && rm -f -- "$3" && (umask 077 && printf '%s' "$4" >"$3"); }; then
    echo 'pushdeploy: cannot write the console environment file' >&2
    exit 1
  fi
}
