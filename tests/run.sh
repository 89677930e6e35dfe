#!/bin/sh
# Runs every test: cmocka unit tests, command-line tests (tests/cli), and
# reference tests against python3-torch / scikit-learn (tests/ref). Ends
# with one summary line "N passed, N failed".
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
BIN=${BIN:-bin}; BUILD=${BUILD:-build}
export BIN BUILD
pass=0; failn=0; skipn=0
log=$(mktemp)
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$log" 2>&1
    rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log")
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log")
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    pass=$((pass + p)); failn=$((failn + f))
    echo "unit $(basename "$t"): $p passed, $f failed"
    [ "$f" -ne 0 ] && grep -E 'FAILED|ERROR|error|Assert' "$log" | head -20
done
for t in tests/cli/*.sh tests/ref/*.sh; do
    [ -f "$t" ] || continue
    case $t in tests/ref/*) [ -n "${ASAN:-}" ] && continue ;; esac
    start=$(date +%s)
    sh "$t" >"$log" 2>&1
    rc=$?
    p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log"); s=$(grep -c '^ok .*# SKIP' "$log")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "# $t exited $rc" >>"$log"; fi
    pass=$((pass + p - s)); failn=$((failn + f)); skipn=$((skipn + s))
    echo "$t: $((p - s)) passed, $f failed, $s skipped ($(( $(date +%s) - start ))s)"
    [ "$f" -ne 0 ] && grep -A3 '^not ok\|^#' "$log" | head -40
done
rm -f "$log"
echo "$pass passed, $failn failed, $skipn skipped"
[ "$failn" -eq 0 ]
