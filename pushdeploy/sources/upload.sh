# The receiving end of an upload (sources/upload.py): sent as the command of a channel of its own
# beside the deploy script, with the file on its input, so it runs alone (no prelude.sh) and whole:
# its exit status and its last line on stderr are all the client reads (Sending, in upload.py).

# receive_upload DIR SIZE DIGEST: SIZE bytes of input into DIR/DIGEST once their size and SHA-256 check.
receive_upload() {
  local dir=$1 size=$2 digest=$3 got sum
  set -u
  umask 077
  mkdir -p -- "$dir" || exit 1
  [ -f "$dir/$digest" ] && exit 0 # here already (checked when it arrived)
  # A global, not a local: the EXIT trap runs after this function has returned.
  RECEIVE_PART="$dir/$digest.$$.part"
  trap 'rm -f -- "$RECEIVE_PART"' EXIT
  head -c "$size" >"$RECEIVE_PART" || { echo "cannot write $RECEIVE_PART" >&2; exit 1; }
  got=$(stat -c %s -- "$RECEIVE_PART")
  [ "$got" = "$size" ] || { echo "the upload ended after $got of $size bytes" >&2; exit 1; }
  sum=$(sha256sum -- "$RECEIVE_PART") && sum=${sum%% *}
  [ "$sum" = "$digest" ] || { echo "the upload arrived damaged (sha256 $sum, not $digest)" >&2; exit 1; }
  mv -f -- "$RECEIVE_PART" "$dir/$digest"
}
