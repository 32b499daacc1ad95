# The checks of `verify = signed` on the server (sources/signatures.py writes their header).
# Needs, from that header: ALLOWED_SIGNERS (the lines of allowed-signers), SIGNED_KIND (SSH or GPG:
# the kind of those keys) and SIGNED_LIMIT (characters of a tool's reason in a marker); from
# prelude.sh: fail, step, STATE; from git.sh, for a commit: git_repo; from protocol.py: EXIT_REFUSED.
# The keys go into a private directory under STATE (SIGNED_TMP), removed after each check. Git and
# the tools are pinned to the one kind: no fallback to the server user's keyring, nor to the other
# kind; GPG runs with SIGNED_TMP as its home, trusting exactly those keys, starting no agent.

# verify_commit SHA: refuse (EXIT_REFUSED) the commit SHA unless a key of allowed-signers signed it.
verify_commit() { signed_check "commit ${1:0:7}" "$1" signed_commit "$1"; }
# verify_file FILE SIGFILE: refuse (EXIT_REFUSED) FILE unless SIGFILE is its signature by an allowed key.
verify_file() { signed_check "$(signed_clean "${1##*/}")" "" signed_file "$1" "$2"; }

# signed_clean TEXT: untrusted tool output fit for a marker: no controls, SIGNED_LIMIT chars at most.
signed_clean() { local text; text=$(printf '%s' "$1" | LC_ALL=C tr -d '\000-\037\177'); printf '%s' "${text:0:SIGNED_LIMIT}"; }
# signed_reason OUTPUT: a tool's verdict, its last non-blank line.
signed_reason() {
  local line last=""
  while IFS= read -r line; do [[ $line != *[![:space:]]* ]] || last=$line; done <<<"$1"
  signed_clean "$last"
}
# signed_needs TOOL WHAT: fail the step unless TOOL (of the package WHAT) is on the server.
signed_needs() { command -v "$1" >/dev/null 2>&1 || fail verify "verify = signed needs $1 on the server ($2)"; }
# signed_check WHAT SHA CHECK ARGS...: the verify step. CHECK ARGS runs with the allowed signers in
# a private directory under STATE (SIGNED_TMP, removed after); WHAT is refused when it fails.
signed_check() {
  local out status=0
  step verify
  signed_ready "${2:+commit}"
  SIGNED_TMP=$(mktemp -d -- "$STATE/verify.XXXXXX") || fail verify "cannot create a temporary directory in $STATE"
  if ! (umask 077 && printf '%s\n' "${ALLOWED_SIGNERS[@]}" >"$SIGNED_TMP/allowed_signers" && signed_home) >"$SIGNED_TMP/why" 2>&1; then
    out=$(signed_reason "$(head -c 10000 -- "$SIGNED_TMP/why")") && rm -rf -- "$SIGNED_TMP"
    fail verify "cannot set up the keys of allowed-signers in $STATE ($out)"
  fi
  out=$("${@:3}" 2>&1) || status=$?
  rm -rf -- "$SIGNED_TMP"
  [ "$status" = 0 ] || signed_refuse "$1" "$out" "$2"
}
# signed_refuse WHAT OUTPUT [SHA]: refuse WHAT, with the tool's reason or what the commit carries.
signed_refuse() {
  local why
  why=$(signed_reason "$2")
  if [ -z "$why" ] && [ -n "${3:-}" ]; then
    case $(git_repo cat-file commit "$3" 2>/dev/null | sed -n '/^$/q; s/^gpgsig[-a-z0-9]* -----BEGIN \([A-Z]*\) .*/\1/p') in
      "") why="no signature" ;;
      SSH) [ "$SIGNED_KIND" = SSH ] || why="signed with SSH; allowed-signers holds GPG keys" ;;
      PGP) [ "$SIGNED_KIND" = GPG ] || why="signed with GPG; allowed-signers holds SSH keys" ;;
    esac
  fi
  fail verify "$1 is not signed by a key in allowed-signers (${why:-the signature was not accepted})" "$EXIT_REFUSED"
}

# signed_ready [commit]: fail the step unless the server has the tools SIGNED_KIND needs (and, to
# check a commit's SSH signature, git 2.34 or newer).
signed_ready() {
  local version major=0 minor=0
  if [ "$SIGNED_KIND" = GPG ]; then
    signed_needs gpg GnuPG
    return
  fi
  signed_needs ssh-keygen "OpenSSH's client tools"
  [ "$1" = commit ] || return 0
  version=$(git --version 2>/dev/null)
  if [[ $version =~ ([0-9]+)\.([0-9]+) ]]; then major=$((10#${BASH_REMATCH[1]})) minor=$((10#${BASH_REMATCH[2]})); fi
  (( major > 2 || (major == 2 && minor >= 34) )) ||
    fail verify "verify = signed needs git 2.34+ on the server for SSH signatures (found $(signed_clean "${version:-no git}"))"
}
# signed_home: with GPG keys, SIGNED_TMP becomes GnuPG's home, holding only them, trusted; no agent starts.
signed_home() {
  [ "$SIGNED_KIND" = GPG ] || return 0
  printf '%s\n' 'trust-model always' no-auto-key-retrieve no-autostart >"$SIGNED_TMP/gpg.conf" &&
    GNUPGHOME=$SIGNED_TMP gpg --batch --quiet --import <"$SIGNED_TMP/allowed_signers"
}
# signed_commit SHA: git's verify-commit of SHA, pinned to SIGNED_KIND and the keys in SIGNED_TMP.
signed_commit() {
  if [ "$SIGNED_KIND" = GPG ]; then
    GNUPGHOME=$SIGNED_TMP git_repo -c gpg.openpgp.program=gpg -c gpg.minTrustLevel=undefined \
      -c gpg.ssh.program=false -c gpg.ssh.allowedSignersFile=/dev/null -c gpg.x509.program=false verify-commit "$1"
  else
    git_repo -c gpg.format=ssh -c gpg.ssh.program=ssh-keygen -c "gpg.ssh.allowedSignersFile=$SIGNED_TMP/allowed_signers" \
      -c gpg.openpgp.program=false -c gpg.x509.program=false verify-commit "$1"
  fi
}
# signed_file FILE SIGFILE: is SIGFILE a good signature of FILE by a key in SIGNED_TMP?
signed_file() {
  local principal
  [ -f "$2" ] || { printf 'no signature: %s is missing\n' "${2##*/}"; return 1; }
  if [ "$SIGNED_KIND" = GPG ]; then
    GNUPGHOME=$SIGNED_TMP gpg --batch --status-file "$SIGNED_TMP/status" --verify -- "$2" "$1" </dev/null &&
      [[ $'\n'$(<"$SIGNED_TMP/status") == *$'\n[GNUPG:] GOODSIG '* ]]
  else
    principal=$(ssh-keygen -Y find-principals -f "$SIGNED_TMP/allowed_signers" -s "$2") &&
      ssh-keygen -Y verify -f "$SIGNED_TMP/allowed_signers" -I "${principal%%$'\n'*}" -n file -s "$2" <"$1" >/dev/null
  fi
}
