#!/bin/sh
# Runs every test: cmocka unit tests, command-line tests (tests/cli), and
# reference tests against python3-torch / scikit-learn (tests/ref); then,
# when ASAN_BIN is set, the unit and command-line tests again on the
# AddressSanitizer+UBSan build. Ends with one line "N passed, N failed".
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
pass=0; failn=0; skipn=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

run_units() {   # $1 build dir, $2 label
    for t in "$1"/tests/test_*; do
        [ -x "$t" ] || continue
        CMOCKA_MESSAGE_OUTPUT=stdout "$t" >"$log" 2>&1
        rc=$?
        p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log")
        f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log")
        p=${p:-0}; f=${f:-0}
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
        pass=$((pass + p)); failn=$((failn + f))
        echo "$2unit $(basename "$t"): $p passed, $f failed"
        [ "$f" -ne 0 ] && grep -E 'FAILED|ERROR|error|Assert|runtime' "$log" | head -20
    done
}

run_scripts() {   # $1 label, then scripts
    label=$1; shift
    for t in "$@"; do
        [ -f "$t" ] || continue
        start=$(date +%s)
        sh "$t" >"$log" 2>&1
        rc=$?
        p=$(grep -c '^ok ' "$log"); f=$(grep -c '^not ok ' "$log"); s=$(grep -c '^ok .*# SKIP' "$log")
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "# $t exited $rc" >>"$log"; fi
        pass=$((pass + p - s)); failn=$((failn + f)); skipn=$((skipn + s))
        echo "$label$t: $((p - s)) passed, $f failed, $s skipped ($(( $(date +%s) - start ))s)"
        [ "$f" -ne 0 ] && grep -A3 '^not ok' "$log" | head -40
        grep -q 'runtime error\|AddressSanitizer' "$log" && grep -m5 'runtime error\|AddressSanitizer' "$log"
    done
}

export BIN=${BIN:-bin} BUILD=${BUILD:-build}
if [ -z "${V3_ONLY:-}" ]; then
    run_units "$BUILD" ""
    run_scripts "" tests/cli/*.sh tests/ref/*.sh
fi

# The AVX2 build (-march=x86-64-v3, `make v3`): unit tests and the engine
# against PyTorch, so that the path without AVX-512 is always tested.
if [ -n "${V3_BUILD:-}" ] && [ -d "$V3_BUILD" ]; then
    (export BIN=${V3_BIN:-bin-v3} BUILD=$V3_BUILD
     run_units "$BUILD" "avx2 "
     run_scripts "avx2 " tests/ref/engine.sh
     echo "$pass $failn $skipn" >"$log.v3")
    read -r pass failn skipn <"$log.v3"; rm -f "$log.v3"
fi

if [ -z "${V3_ONLY:-}" ] && [ -n "${ASAN_BIN:-}" ] && [ -d "$ASAN_BIN" ]; then
    export BIN=$ASAN_BIN BUILD=${ASAN_BUILD:-build-asan}
    export CNN_ASAN=1 ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    run_units "$BUILD" "asan "
    run_scripts "asan " tests/cli/*.sh
fi
echo "$pass passed, $failn failed, $skipn skipped"
[ "$failn" -eq 0 ]
