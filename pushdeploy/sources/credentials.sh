# The repo-token's bash library (part of the git source's: sources/git.py), header from
# config/credentials.py, which says why each setting is there. Needs, set but NOT exported:
# REPO_TOKEN and REPO_TOKEN_SCOPE (https://host[:port] of REPO); REPO_TOKEN_HELPER, the text of the
# credential helper; REPO_TOKEN_ENV and REPO_TOKEN_SCOPE_ENV, the names under which that helper
# reads the token and the scope from git's environment. Without REPO_TOKEN, git runs as it is.

# git_auth ARGS...: git ARGS..., offered REPO_TOKEN for REPO_TOKEN_SCOPE by a helper of this one command.
git_auth() {
  local name
  if [ -z "${REPO_TOKEN-}" ]; then git "$@" </dev/null; return; fi
  for name in REPO_TOKEN_SCOPE REPO_TOKEN_HELPER REPO_TOKEN_ENV REPO_TOKEN_SCOPE_ENV; do
    if [ -z "${!name-}" ]; then
      echo "git_auth: REPO_TOKEN is set but $name is not" >&2
      return 2
    fi
  done
  # In the environment of git and its children only (exported by this function's scope, never on
  # a command line); the helper's text names the variables, never the token.
  local -x "$REPO_TOKEN_ENV=$REPO_TOKEN" "$REPO_TOKEN_SCOPE_ENV=$REPO_TOKEN_SCOPE"
  GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=false GIT_TRACE_REDACT=1 \
    git -c credential.helper= -c "credential.helper=$REPO_TOKEN_HELPER" "$@" </dev/null
}
