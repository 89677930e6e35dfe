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

# The checker itself must be able to fail: a synthetic tree with a function
# of 121 lines (a brace inside a string and a comment must not fool it) is
# refused, one of 120 passes.
mktree() {
    mkdir -p "$T/$1/common/base" "$T/$1/tools"
    {
        echo 'int f(int a)'
        echo '{'
        echo '    const char *s = "}"; /* } */ (void)s;'
        i=3; while [ $i -lt $(($2 - 1)) ]; do echo "    a += $i;"; i=$((i + 1)); done
        echo '}'
    } >"$T/$1/common/base/x.c"
}
mktree long 121
mktree fits 120
if $PY "$TOP/tests/layers/check.py" "$T/long" >"$T/out" 2>&1; then
    fail "check-layers refuses a 121-line function" "$(cat "$T/out")"
elif grep -q 'common/base/x.c:1: f is 121 lines' "$T/out"; then
    pass "check-layers refuses a 121-line function"
else
    fail "check-layers refuses a 121-line function" "$(cat "$T/out")"
fi
# (the synthetic tree lacks PENDING's files, so only an 'f is' line counts)
$PY "$TOP/tests/layers/check.py" "$T/fits" >"$T/out" 2>&1
if grep -q ' f is ' "$T/out"; then fail "check-layers accepts a 120-line function" "$(cat "$T/out")"
else pass "check-layers accepts a 120-line function"; fi
