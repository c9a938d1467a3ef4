/**
 * The POSIX sh + awk program the `ssh` transport runs on a remote host, so a host needs
 * nothing but sh, awk, cp and mv (no rekey, no Python). The key arrives on stdin and is fed to
 * awk through a pipe from the shell's builtin `printf`, so it never appears in any process's
 * argument list on either machine.
 *
 * Usage on the remote: `sh -c "$SCRIPT" rekey-rotate FILE BACKUP ACTION` where ACTION is
 *   deploy   read the key (one line) from stdin, keep FILE as BACKUP unless BACKUP already
 *            exists, rewrite api_key atomically (temporary copy with FILE's mode + mv);
 *   deploy-rekey  the same backup, then `rekey config set-api-key --file FILE --key-stdin`
 *            (for hosts with rekey installed; stdin passes straight through);
 *   rollback put BACKUP back atomically;
 *   last4    print the last 4 characters of the api_key in FILE (never the key).
 *
 * The edit: Agent v5 `datadog.conf` (has a `[Main]` section): the `api_key:` line inside
 * [Main] is replaced, or added right after `[Main]`. Agent v6/7 `datadog.yaml`: the top-level
 * (unindented) `api_key:` line is replaced, or added at the end. Every other byte is kept,
 * CRLF line ends included.
 */
export const REMOTE_SET_KEY_SCRIPT = String.raw`set -u
file=$1; backup=$2; action=$3
fail() { echo "rekey-rotate: $*" >&2; exit 3; }
[ -f "$file" ] || fail "$file does not exist or is not a file"
dir=$(dirname "$file")
tmp="$dir/.rekey-rotate-tmp.$$"
trap 'rm -f "$tmp"' EXIT
case $action in
deploy|deploy-rekey)
  umask 077
  if [ ! -e "$backup" ]; then cp -p "$file" "$backup" || fail "cannot back up $file to $backup"; fi
  if [ "$action" = deploy-rekey ]; then
    rekey config set-api-key --file "$file" --key-stdin --no-checksum || fail "rekey config set-api-key failed"
    echo "backup=$backup"
    exit 0
  fi
  key=
  IFS= read -r key || [ -n "$key" ] || fail "no key on stdin"
  case $key in *[!0-9a-f]*|'') fail "the key on stdin is not lowercase hex";; esac
  [ ${'$'}{#key} -eq 32 ] || fail "the key on stdin is not 32 characters"
  cp -p "$file" "$tmp" || fail "cannot write next to $file"
  printf '%s\n' "$key" | awk '
    NR == 1 { key = $0; next }
    { lines[++n] = $0 }
    END {
      v5 = 0
      for (i = 1; i <= n; i++) { l = lines[i]; sub(/\r$/, "", l); if (l ~ /^[ \t]*\[Main\][ \t]*$/) { v5 = 1; break } }
      done = 0; section = ""
      for (i = 1; i <= n; i++) {
        l = lines[i]; cr = ""
        if (l ~ /\r$/) { cr = "\r"; sub(/\r$/, "", l) }
        if (v5) {
          if (l ~ /^[ \t]*\[[^]]*\][ \t]*$/) {
            section = l; gsub(/[ \t\[\]]/, "", section)
            print lines[i]
            if (section == "Main" && !done && !has_key_in_main()) { print "api_key: " key cr; done = 1 }
            continue
          }
          if (section == "Main" && l ~ /^api_key[ \t]*[:=]/) { print "api_key: " key cr; done = 1; continue }
        } else if (l ~ /^api_key[ \t]*:/) { print "api_key: " key cr; done = 1; continue }
        print lines[i]
      }
      if (!done) print "api_key: " key
    }
    function has_key_in_main(   j, m) {
      for (j = i + 1; j <= n; j++) {
        m = lines[j]; sub(/\r$/, "", m)
        if (m ~ /^[ \t]*\[[^]]*\][ \t]*$/) return 0
        if (m ~ /^api_key[ \t]*[:=]/) return 1
      }
      return 0
    }
  ' - "$file" > "$tmp" || fail "cannot rewrite $file"
  mv -f "$tmp" "$file" || fail "cannot replace $file"
  echo "backup=$backup"
  ;;
rollback)
  [ -f "$backup" ] || fail "no backup $backup to restore"
  cp -p "$backup" "$tmp" || fail "cannot copy $backup"
  mv -f "$tmp" "$file" || fail "cannot replace $file"
  ;;
last4)
  awk '
    { l = $0; sub(/\r$/, "", l) }
    l ~ /^[ \t]*\[[^]]*\][ \t]*$/ { section = l; gsub(/[ \t\[\]]/, "", section); v5 = 1; next }
    l ~ /^api_key[ \t]*[:=]/ && (!v5 || section == "Main") {
      v = l; sub(/^api_key[ \t]*[:=][ \t]*/, "", v); sub(/[ \t]+#.*$/, "", v); sub(/[ \t]+$/, "", v)
      gsub(/^["\047]|["\047]$/, "", v)
      last = substr(v, length(v) - 3)
    }
    END { if (last != "") print last }
  ' "$file"
  ;;
*) fail "unknown action $action";;
esac
`;
