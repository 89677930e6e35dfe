#!/bin/sh
# What every tool shares: --help, --version, usage errors (exit 2), a man
# page beside its source, HDF5 never written to a terminal.
. "$(dirname "$0")/../lib.sh"

for b in "$BIN"/cnn-*; do
    t=$(basename "$b"); src=${t#cnn-}
    check "$t --help exits 0" "$b" --help
    if grep -qi 'usage' "$T/.out"; then pass "$t --help prints a usage"; else fail "$t --help prints a usage"; fi
    if grep -q 'Exit status' "$T/.out"; then pass "$t --help documents exit codes"; else fail "$t --help documents exit codes"; fi
    check "$t --version exits 0" "$b" --version
    if grep -q "^$t (cnntools) " "$T/.out"; then pass "$t --version names the tool"; else fail "$t --version names the tool" "$(cat "$T/.out")"; fi
    check_error "$t rejects an unknown option with exit 2" 2 "$t: |unrecognized|invalid" "" "$b" --no-such-option
    if [ -f "$TOP/tools/$src.1" ] && grep -q '^\.TH' "$TOP/tools/$src.1"; then pass "$t has a man page"
    else fail "$t has a man page" "tools/$src.1"; fi
done

# The common options with a value: a tool's --help lists exactly those it
# honours, and refuses the others as a usage error (exit 2, one line).
for b in "$BIN"/cnn-*; do
    t=$(basename "$b"); sub=
    case $t in cnn-render) sub=grid ;; cnn-perturb) sub=shuffle ;; esac
    $b $sub --help >"$T/help.txt" 2>&1
    for o in range:0:1 batch:1 threads:1 seed:1; do
        opt=--${o%%:*}; val=${o#*:}
        if grep -q -- "^ *$opt " "$T/help.txt"; then
            if $b $sub $opt "$val" --help >/dev/null 2>"$T/opt.err"; then pass "$t honours $opt (listed in --help)"
            else fail "$t honours $opt (listed in --help)" "$(head -c 300 "$T/opt.err")"; fi
        else
            check_error "$t refuses $opt (not in its --help)" 2 "$t: $opt is not an option of $t|unrecognized option '$opt'" "" $b $sub $opt "$val"
        fi
    done
done
check_error "cnn-import has no --range" 2 "cnn-import: --range is not an option of cnn-import" "" cnn-import --range 0:1 x.onnx
for l in "cnn-occlude -s 3" "cnn-topk -w label=1" "cnn-topk -s max" "cnn-extract-layer -s max" "cnn-import -c x.txt"; do
    check_error "letters mean one thing: $l is refused" 2 "invalid option" "" $l
done

# HDF5 to a terminal is refused (script(1) gives the tool a pseudo-terminal).
if [ -x "$BIN/cnn-images" ] && command -v script >/dev/null; then
    $PY -c "
from PIL import Image; Image.new('RGB', (4, 4), (255, 0, 0)).save('$T/red.png')"
    script -qec "$BIN/cnn-images $T/red.png" /dev/null >"$T/tty.txt" 2>&1
    rc=$?
    if [ $rc -eq 2 ] && grep -q 'terminal' "$T/tty.txt"; then pass "HDF5 output to a terminal is refused"
    else fail "HDF5 output to a terminal is refused" "rc=$rc $(head -c 200 "$T/tty.txt")"; fi
fi
