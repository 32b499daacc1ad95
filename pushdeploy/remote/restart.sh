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
