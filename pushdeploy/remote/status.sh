# The status command's look at one host (remote/status.py calls these; its parse reads what they
# say): read-only, no lock taken. They report as `value NAME TEXT` markers. Needs prelude.sh (value,
# valid_sha, live_release, lock_owner, disk_stats) and the header's paths.

# status_sha: the live release's REVISION, when it is a SHA.
status_sha() {
  local live sha
  live=$(live_release) && sha=$(head -c 100 -- "$RELEASES/$live/REVISION" 2>/dev/null) &&
    valid_sha "$sha" && value sha "$sha"
}
# status_lock: who holds the lock, in any state, and how many seconds ago it was refreshed.
status_lock() {
  local now m
  if [ -e "$L" ] || [ -L "$L" ]; then
    value lock "$(lock_owner)"
    now=$(date +%s) m=$(stat -c %Y -- "$L/$LOCK_OWNER" 2>/dev/null)
    if [[ $now =~ ^[0-9]+$ && $m =~ ^[0-9]+$ ]]; then value lock_age "$((now - m))"; fi
  fi
}
# status_disk: the size and free space (KiB), and the inodes and free inodes, of the disk under P.
status_disk() { value disk "$(disk_stats k)"; value inodes "$(disk_stats i)"; }
# status_monitor SECONDS LIMIT ZIPAPP STATUS...: the exit status of the monitor's status command
# STATUS (stopped after SECONDS where timeout(1) is installed) and the first LIMIT characters it
# printed, made one line; `none` when the monitor is not installed at ZIPAPP.
status_monitor() {
  local out bound=()
  if command -v timeout >/dev/null; then bound=(timeout "$1"); fi
  if [ ! -f "$3" ]; then value monitor_status none; return; fi
  out=$(${bound[@]+"${bound[@]}"} "${@:4}" 2>/dev/null </dev/null 3<&- | head -c "$2"; exit "${PIPESTATUS[0]}")
  value monitor_status $?
  value monitor "$(printf '%s' "$out" | tr -d '\r\n')"
}
