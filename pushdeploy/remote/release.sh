# The release ID's server half (remote/release.py: the client knows the run's time, only the
# server the SHA). Needs RELEASES and SHA.

# new_release_id STAMP SHORT: ID for SHA in the run of STAMP: STAMP, `-`, SHA's first SHORT
# characters, and `.N` for the first N that names no release in RELEASES yet (at most 100).
new_release_id() {
  local n=1
  ID=$1-${SHA:0:$2}
  while [ -e "$RELEASES/$ID" ] && [ $n -lt 100 ]; do
    n=$((n + 1))
    ID=${ID%%.*}.$n
  done
}
