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
# newest_tag: print the name of the newest tag (by creation date, then version), if any.
newest_tag() {
  git_repo for-each-ref --sort=-v:refname --sort=-creatordate --count=1 --format='%(refname:strip=2)' refs/tags
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
