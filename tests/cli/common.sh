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

# HDF5 to a terminal is refused (script(1) gives the tool a pseudo-terminal).
if [ -x "$BIN/cnn-images" ] && command -v script >/dev/null; then
    $PY -c "
from PIL import Image; Image.new('RGB', (4, 4), (255, 0, 0)).save('$T/red.png')"
    script -qec "$BIN/cnn-images $T/red.png" /dev/null >"$T/tty.txt" 2>&1
    rc=$?
    if [ $rc -eq 2 ] && grep -q 'terminal' "$T/tty.txt"; then pass "HDF5 output to a terminal is refused"
    else fail "HDF5 output to a terminal is refused" "rc=$rc $(head -c 200 "$T/tty.txt")"; fi
fi
