#!/bin/sh
# pipelines/logged.sh, which `make demo` runs its stages through: on a
# (pseudo-)terminal the tool's progress bar shows there as it runs and the
# log keeps its lines without the bars; in a pipe no bar at all, the lines
# streamed and logged; the command's exit status comes back either way.
. "$(dirname "$0")/../lib.sh"
L=$TOP/pipelines/logged.sh
$PY "$TOP/tests/cli/random_images.py" "$T/im.h5" 64 1 8 8 4 || exit 1
TR="$BIN/cnn-train -e 2 --batch 4 -a dense $T/im.h5 -o $T/m.h5"
if command -v script >/dev/null; then
    script -qefc "sh $L $T/tty.log $TR" /dev/null </dev/null >"$T/tty.txt" 2>&1
    rc=$?
    if [ $rc -eq 0 ] && grep -q '\] 100% 64/64' "$T/tty.txt" && grep -q 'epoch 2/2' "$T/tty.txt"; then
        pass "on a terminal: the progress bar and the epoch lines show"
    else fail "on a terminal: progress shows" "rc=$rc $(head -c 300 "$T/tty.txt")"; fi
    if [ "$(grep -c 'epoch [12]/2: loss' "$T/tty.log")" -eq 2 ] && ! grep -q "$(printf '\r')\|\] 100%\|$(printf '\033')" "$T/tty.log"; then
        pass "on a terminal: the log has the epoch lines, no bar"
    else fail "on a terminal: the log" "$(od -c "$T/tty.log" | head -5)"; fi
fi
sh "$L" "$T/pipe.log" $TR 2>"$T/pipe.err" | cat
if [ "$(grep -c 'epoch [12]/2: loss' "$T/pipe.err")" -eq 2 ] && ! grep -q '100%' "$T/pipe.err" &&
   cmp -s "$T/pipe.err" "$T/pipe.log"; then
    pass "in a pipe: the epoch lines streamed and logged, no bar"
else fail "in a pipe" "$(head -c 300 "$T/pipe.err")"; fi
sh "$L" "$T/bad.log" "$BIN/cnn-train" "$T/missing.h5" -o "$T/x.h5" 2>/dev/null
rc=$?
if [ $rc -eq 1 ] && grep -q 'missing.h5: cannot open' "$T/bad.log"; then pass "the command's exit status and error are kept"
else fail "exit status" "rc=$rc $(cat "$T/bad.log")"; fi
