# The git source's bash library (sources/git.py): the mirror in REPO_DIR, fetched from REPO.
git_repo() { git --git-dir="$REPO_DIR" "$@" </dev/null; }
# git_remote: git on the mirror for what talks to the remote, with repo-token's helper (git_auth).
git_remote() { git_auth --git-dir="$REPO_DIR" "$@" </dev/null; }
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
newest_tag() {
  git_repo for-each-ref --sort=-v:refname --sort=-creatordate --count=1 --format='%(refname:strip=2)' refs/tags
}
# fill_release DIR SHA: the commit's tree, as git archive gives it.
fill_release() { git_repo archive --format=tar "$2" | tar -x -C "$1" || fail release "git archive of $2 failed"; }
