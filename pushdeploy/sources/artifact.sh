# The artifact source's bash library (sources/artifact.py). Needs UPLOADS (where artifacts wait
# to be unpacked), ARTIFACT_FORMAT, ARTIFACT_LABEL, UNPACK_PY and TWINS_PY (unpack.py's and
# twins.py's source) and either ARTIFACT_SHA (a local artifact, digested by the client) or
# ARTIFACT_URL, ARTIFACT_SHA256, ETAGS and DOWNLOAD_PY (download.py's source: the server fetches
# it). The tools run with python3.
ARTIFACT_FILE="" ETAG=""

# python_tool SOURCE ARGS...: run a tool of ours with python3; its line on stdout in TOOL_OUT,
# the first line of its stderr (untrusted: controls removed, cut) in TOOL_ERR; its status.
python_tool() {
  local source=$1 err status=0
  shift
  err=$(mktemp -- "$STATE/.tool.XXXXXX") || { TOOL_ERR="cannot write in $STATE"; return 1; }
  TOOL_OUT=$(python3 -c "$source" "$@" 2>"$err" </dev/null) || status=$?
  TOOL_ERR=$(head -n 1 -- "$err" | head -c 500 | tr -d '\000-\037')
  rm -f -- "$err"
  [ -n "$TOOL_ERR" ] || TOOL_ERR="python3 ended with status $status"
  return "$status"
}
# artifact_check: setup's check for the tools an artifact deploy runs on the server.
artifact_check() {
  command -v python3 >/dev/null || fail check "python3 is not installed on the server (artifacts are unpacked with it)"
  command -v sha256sum >/dev/null || fail check "sha256sum (coreutils) is not installed on the server"
}
# artifact_identify: a local artifact is what the client digested; it sends the file alongside.
artifact_identify() {
  step resolve
  REF=$ARTIFACT_LABEL SHA=$ARTIFACT_SHA ARTIFACT_FILE="$UPLOADS/$ARTIFACT_SHA"
  value ref "$REF"
  value sha "$SHA"
}
# artifact_await_upload: wait for the client's word on the file it sends (sources/upload.py).
artifact_await_upload() {
  step upload
  while await_word; do
    case $WORD in
      uploaded) break ;;
      "upload-failed "*) fail upload "${WORD#upload-failed }" ;;
    esac
  done
  [ -f "$ARTIFACT_FILE" ] || fail upload "the uploaded artifact is gone from $UPLOADS; deploy again"
}
# artifact_identify_url: the digest from artifact-sha256 or URL.sha256; else the ETag, and when
# it is the live release's, that release's digest (nothing changed).
artifact_identify_url() {
  local given=()
  step resolve
  REF=$ARTIFACT_LABEL SHA=""
  value ref "$REF"
  if [ -n "$ARTIFACT_SHA256" ]; then given=(--sha256 "$ARTIFACT_SHA256"); fi
  python_tool "$DOWNLOAD_PY" identity "$ARTIFACT_URL" "${given[@]}" || fail resolve "$TOOL_ERR"
  case $TOOL_OUT in
    "sha256 "*) SHA=${TOOL_OUT#sha256 } ;;
    "etag "*) ETAG=${TOOL_OUT#etag } ;;
  esac
  valid_sha "$SHA" || SHA=""
  # shellcheck disable=SC2153  # ETAGS is set by the header (scripts.py), not a typo of ETAG
  if [ -z "$SHA" ] && [ -n "$PREV" ] && [ "$(head -c 300 -- "$ETAGS/$PREV" 2>/dev/null)" = "$ETAG" ]; then
    SHA=$(head -c 100 -- "$RELEASES/$PREV/REVISION" 2>/dev/null)
    valid_sha "$SHA" || SHA=""
  fi
  if [ -n "$SHA" ]; then value sha "$SHA"; fi
}
# artifact_download: fetch it into UPLOADS, checked against the digest when one is known.
artifact_download() {
  local part="$UPLOADS/.download.$$" given=()
  step download
  (umask 077 && mkdir -p -- "$UPLOADS") || fail download "cannot create $UPLOADS"
  if [ -n "$SHA" ]; then given=(--sha256 "$SHA"); fi
  python_tool "$DOWNLOAD_PY" fetch "$ARTIFACT_URL" "$part" "${given[@]}" || fail download "$TOOL_ERR"
  SHA=${TOOL_OUT#sha256=} && SHA=${SHA%% *}
  case $TOOL_OUT in *" etag="*) ETAG=${TOOL_OUT##* etag=} ;; esac
  valid_sha "$SHA" || { rm -f -- "$part"; fail download "the download gave no digest"; }
  ARTIFACT_FILE="$UPLOADS/$SHA"
  mv -f -- "$part" "$ARTIFACT_FILE" || { rm -f -- "$part"; fail download "cannot write in $UPLOADS"; }
  value sha "$SHA"
  skip_if_live
  if [ -n "${SIGNATURE_URL:-}" ]; then artifact_signature; fi
}
# artifact_signature: with verify = signed, the detached signature beside the URL, checked
# (signatures.py's verify_file) before anything is unpacked. A refusal leaves neither file behind:
# verify_file fails (exits) in a subshell, so that the files go before this shell exits too.
artifact_signature() {
  local signature="$UPLOADS/.signature.$$" status=0
  python_tool "$DOWNLOAD_PY" fetch "$SIGNATURE_URL" "$signature" ||
    { rm -f -- "$ARTIFACT_FILE"; fail verify "no signature at $SIGNATURE_URL: $TOOL_ERR" "$EXIT_REFUSED"; }
  (verify_file "$ARTIFACT_FILE" "$signature") || status=$?
  rm -f -- "$signature"
  if [ "$status" != 0 ]; then rm -f -- "$ARTIFACT_FILE"; exit "$status"; fi
}
# fill_release DIR SHA: the artifact unpacked into DIR (nothing outside it; unsafe members, and
# more than the disk can spare, refused before anything is written), then files unchanged since
# the live release hard-linked (twins.py: a failure there only costs space).
fill_release() {
  local status=0 unpacked
  python_tool "$UNPACK_PY" extract "$ARTIFACT_FILE" "$1" --format "$ARTIFACT_FORMAT" || status=$?
  rm -f -- "$ARTIFACT_FILE"
  case $status in
    0) unpacked=$TOOL_OUT ;;
    65) fail release "the artifact was refused, nothing was unpacked: $TOOL_ERR" "$EXIT_REFUSED" ;;
    73) fail release "the artifact does not fit on the server: $TOOL_ERR" "$EXIT_DISK_FULL" ;;
    *) fail release "cannot unpack the artifact: $TOOL_ERR" ;;
  esac
  if [ -n "$PREV" ] && [ -d "$RELEASES/$PREV" ]; then
    if python_tool "$TWINS_PY" "$1" "$RELEASES/$PREV"; then
      unpacked="$unpacked $TOOL_OUT"
    else
      warn "files unchanged since $PREV were not hard-linked: $TOOL_ERR"
    fi
  fi
  value unpacked "$unpacked"
  if [ -n "$ETAG" ]; then
    # shellcheck disable=SC2015  # meant: warn when either of the two fails
    mkdir -p -- "$ETAGS" && printf '%s\n' "$ETAG" >"$ETAGS/${1##*/}" || warn "cannot record the ETag in $ETAGS"
  fi
}
# artifact_rebuild: a revert's rebuild of pruned release ID, which an artifact cannot have.
artifact_rebuild() { fail revert "release $ID was pruned, and artifacts are not kept on the server; deploy that artifact again"; }
