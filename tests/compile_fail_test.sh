#!/usr/bin/env bash
# Compile errors that name the concept: each tests/compile_fail/*.cpp states on its first line
# the text its one error must contain (`// expect: TEXT`), or `// expect: compiles`. A file that
# should fail must fail with exactly one error line, a static_assert containing TEXT.
#   compile_fail_test.sh CXX "FLAGS…" DIR
set -uo pipefail
cxx=$1 flags=$2 dir=$3
fail=0
for f in "$dir"/*.cpp; do
  expect=$(head -1 "$f" | sed -n 's#^// expect: ##p')
  # shellcheck disable=SC2086
  out=$("$cxx" $flags -fsyntax-only "$f" 2>&1)
  rc=$?
  errors=$(grep -c "error:" <<<"$out")
  if [ "$expect" = compiles ]; then
    if [ $rc -eq 0 ]; then echo "ok   $(basename "$f"): compiles"; else echo "FAIL $(basename "$f") does not compile:"; echo "$out" | grep "error:" | head -5; fail=1; fi
  elif [ $rc -ne 0 ] && [ "$errors" -eq 1 ] && grep "error:" <<<"$out" | grep -q "static assertion failed" &&
       grep "error:" <<<"$out" | grep -qF "$expect"; then
    echo "ok   $(basename "$f"): one error: $(grep "error:" <<<"$out" | sed 's/.*error: //' | cut -c1-150)…"
  else
    echo "FAIL $(basename "$f"): rc $rc, $errors error lines, expected one static_assert with '$expect':"
    echo "$out" | grep "error:" | head -5
    fail=1
  fi
done
exit $fail
