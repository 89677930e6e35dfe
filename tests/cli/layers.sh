#!/bin/sh
# make check-layers (tests/layers/check.py): includes point down the floors
# of common/, no cycles between rooms, no run of six lines shared by two
# source files.
. "$(dirname "$0")/../lib.sh"

if $PY "$TOP/tests/layers/check.py" "$TOP" >"$T/out" 2>&1; then
    pass "check-layers"
else
    fail "check-layers" "$(head -c 600 "$T/out")"
fi
