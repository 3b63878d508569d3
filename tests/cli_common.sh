# tests/cli_common.sh — shared by the CLI test scripts (sourced): pass/bad counters,
# expect_error NAME PHRASE CMD... (exit status 2, exactly one stderr line containing PHRASE,
# and no sign of a crash or a sanitizer report) and pngs_ok NAME FILES... (each decodes and is
# not blank: png_check.py).
fails=0
pass() { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }
cli_common_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pngs_ok() {  # NAME FILES...
  local name=$1
  shift
  if python3 "$cli_common_dir/png_check.py" "$@" >png.txt 2>&1; then pass "$name: $(wc -l <png.txt) PNG(s) decode, not blank"; else bad "$name: $(tail -1 png.txt)"; fi
}
expect_error() {
  local name=$1 phrase=$2
  shift 2
  "$@" >out.txt 2>err.txt
  local rc=$?
  local lines
  lines=$(wc -l <err.txt)
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && grep -q -- "$phrase" err.txt && ! grep -q -E 'terminate|Sanitizer|runtime error|Aborted' err.txt; then
    pass "$name: $(cat err.txt)"
  else
    bad "$name (status $rc, $lines lines): $(head -c 600 err.txt)"
  fi
}
