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
