# The app as a service (remote/service.py calls these): the monitor's install and its CLI, files
# written private, systemd units. Needs `fail` (prelude.sh) and, for monitor_cli,
# MONITOR_NOT_RUNNING; monitor_cli also runs in the unwrapped `monitor` command, without prelude.sh.

# write_private FILE TEXT WHAT STEP: TEXT into FILE with mode 0600, atomically by a rename; the
# temporary file is removed first, so a leftover cannot keep a wider mode. TEXT never reaches a
# command line (printf is a builtin). On failure: fail STEP "cannot write WHAT".
write_private() {
  { rm -f -- "$1.tmp" && (umask 077 && printf '%s' "$2" >"$1.tmp") && mv -f -- "$1.tmp" "$1"; } ||
    fail "$4" "cannot write $3"
}
# monitor_run ZIPAPP CONFIG COMMAND [ARG...]: the monitor's own CLI (its output passes through).
monitor_run() { python3 "$1" "$3" --config "$2" "${@:4}"; }
# monitor_cli ZIPAPP CONFIG COMMAND [ARG...]: monitor_run in place of this shell, or, when the
# monitor is not installed at ZIPAPP, say so and exit MONITOR_NOT_RUNNING.
monitor_cli() {
  if [ ! -f "$1" ]; then
    echo 'pushdeploy: the monitor is not installed here; run setup (with app and listen set)' >&2
    exit "$MONITOR_NOT_RUNNING"
  fi
  exec python3 "$1" "$3" --config "$2" "${@:4}"
}
# monitor_install ZIPAPP DIGEST: install the monitor zipapp (its base64 on stdin) at ZIPAPP, unless
# the one there has the SHA-256 DIGEST already; python3 must be there to run it.
monitor_install() {
  step monitor
  command -v python3 >/dev/null || fail monitor "python3 is needed on the server for the monitor"
  [ "$(sha256sum "$1" 2>/dev/null | cut -d' ' -f1)" != "$2" ] || return 0
  base64 -d >"$1.tmp" || fail monitor 'cannot write monitor.pyz'
  { chmod 755 "$1.tmp" && mv -f -- "$1.tmp" "$1"; } || fail monitor 'cannot install monitor.pyz'
}
# as_root CMD...: CMD as root: directly when this is root, else through `sudo -n` (never a prompt).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }
# systemd_env_file FILE TEXT: the socket-activated app's EnvironmentFile (TEXT), mode 0600, written
# as the login user, its directory made first.
systemd_env_file() {
  mkdir -p -- "${1%/*}" || fail systemd 'cannot create the state directory'
  write_private "$1" "$2" "${1##*/}" systemd
}
# systemd_unit NAME TEXT: the unit file NAME in /etc/systemd/system, mode 0644 (as root).
systemd_unit() {
  { printf '%s' "$2" | as_root tee "/etc/systemd/system/$1" >/dev/null &&
    as_root chmod 644 "/etc/systemd/system/$1"; } || fail systemd "cannot write $1 (sudo?)"
}
# systemd_reload: systemd reads the units again (as root).
systemd_reload() { as_root systemctl daemon-reload || fail systemd 'systemctl daemon-reload failed'; }
