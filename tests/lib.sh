# Shared helpers for command-line tests: each test prints one TAP line
# ("ok N - what" / "not ok N - what"); tests/run.sh counts them.
# Variables: BIN (binaries), T (a fresh scratch folder), TOP (repository),
# PY (Debian's python3, which has torch, h5py, numpy, sklearn).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-bin}
case $BIN in /*) ;; *) BIN=$TOP/$BIN ;; esac
PATH=$BIN:$PATH
PY=/usr/bin/python3
T=$(mktemp -d "${TMPDIR:-/tmp}/cnntest.XXXXXX")
trap 'rm -rf "$T"' EXIT
SHARED=$TOP/../shared
[ -d "$SHARED" ] || SHARED=
DATA=$TOP/data
_n=0
# CNN_ASAN=1 when run on the sanitizer build: tests may shrink slow work.
CNN_ASAN=${CNN_ASAN:-}

pass() { _n=$((_n + 1)); echo "ok $_n - $1"; }
fail() { _n=$((_n + 1)); echo "not ok $_n - $1"; [ $# -gt 1 ] && printf '#   %s\n' "$2"; return 0; }
skip() { _n=$((_n + 1)); echo "ok $_n - $1 # SKIP ${2:-}"; }

# check WHAT CMD...: CMD must exit 0.
check() {
    local what=$1; shift
    if "$@" >"$T/.out" 2>"$T/.err"; then pass "$what"
    else fail "$what" "exit $?: $(head -c 400 "$T/.err")"; fi
}

# check_error WHAT RC REGEX OUTFILE CMD...: CMD must exit RC, print exactly
# one line on stderr matching REGEX (grep -E), and leave no OUTFILE (give ""
# when there is none).
check_error() {
    local what=$1 rc=$2 re=$3 out=$4; shift 4
    "$@" >"$T/.out" 2>"$T/.err" </dev/null
    local got=$? lines
    lines=$(grep -cv '^Try .* --help' "$T/.err")
    if [ "$got" -ne "$rc" ]; then fail "$what" "exit $got, want $rc: $(head -c 300 "$T/.err")"
    elif [ "$lines" -ne 1 ]; then fail "$what" "stderr has $lines lines: $(head -c 300 "$T/.err")"
    elif ! grep -Eq "$re" "$T/.err"; then fail "$what" "stderr '$(head -c 300 "$T/.err")' !~ /$re/"
    elif [ -n "$out" ] && ls "$out"* >/dev/null 2>&1; then fail "$what" "left output $(ls "$out"*)"
    else pass "$what"; fi
}

# check_py WHAT SCRIPT [ARGS]: a Python check (Debian's python3) must exit 0.
check_py() {
    local what=$1; shift
    if $PY "$@" >"$T/.out" 2>"$T/.err"; then pass "$what"
    else fail "$what" "$(tail -c 600 "$T/.err")"; fi
}
