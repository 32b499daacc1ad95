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
# newest_tag: print the name of the newest tag, if any. Among the tags that look like versions (an
# optional v, dot-separated numbers, perhaps a semver pre-release `-rc.1` and build `+b7`), the
# highest version, as `sort -V` orders them, a pre-release before its release (ties such as v1.2
# and 1.2: the later creation date). With no such tag, the latest creation date (ties: the highest
# version). Dates alone would let an older-dated lightweight v1.1 lose to v1.0.
newest_tag() {
  local name when rank newest
  newest=$(git_repo for-each-ref --format='%(refname:strip=2) %(creatordate:unix)' refs/tags |
    while read -r name when; do
      [[ $name =~ ^v?([0-9]+(\.[0-9]+)*)(-([0-9A-Za-z.-]+))?(\+[0-9A-Za-z.-]+)?$ ]] || continue
      rank=1 # a release sorts after its pre-releases (rank 0)
      [ -z "${BASH_REMATCH[3]}" ] || rank=0
      printf '%s\t%s\t%s\t%s\t%s\n' "${BASH_REMATCH[1]}" "$rank" "${BASH_REMATCH[4]}" "$when" "$name"
    done | LC_ALL=C sort -t "$(printf '\t')" -k1,1V -k2,2n -k3,3V -k4,4n -k5,5 | tail -n 1 | cut -f 5)
  if [ -z "$newest" ]; then
    newest=$(git_repo for-each-ref --sort=-v:refname --sort=-creatordate --count=1 --format='%(refname:strip=2)' refs/tags)
  fi
  printf '%s\n' "$newest"
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
