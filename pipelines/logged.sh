#!/bin/sh
# logged.sh LOG CMD [ARG]...: run CMD with its standard error shown as it
# comes and kept in LOG (made or replaced); exit with CMD's status. `make
# demo` runs the whole demo, and each training, through it.
#
# When standard error is a terminal, CMD runs under script(1) on a
# pseudo-terminal of its own, so the tools still draw their progress bars
# (they draw them on terminals only, common/base/progress.c); the terminal
# shows everything, LOG gets the lines without the bars. CMD's standard
# output shares that pseudo-terminal: give CMD -o FILE for its data (HDF5
# to a terminal is refused anyway). Otherwise (a pipe, a file, cron) CMD's
# standard output stays ours and its standard error is copied to LOG and
# to ours as it comes, without bars.
log=$1
shift
mkdir -p "$(dirname "$log")"
rc=$log.rc.$$
if [ -t 2 ] && command -v script >/dev/null 2>&1; then
    q=
    for a in "$@"; do
        q="$q '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"
    done
    { script -qefc "$q" /dev/null </dev/null; echo $? >"$rc"; } |
        tee /dev/stderr |
        sed -e 's/\r*$//' -e 's/.*\r//' -e 's/\x1b\[K//g' -e '/^$/d' >"$log"
else
    { { "$@" 2>&1 1>&3 3>&-; echo $? >"$rc"; } | tee "$log" >&2; } 3>&1
fi
status=$(cat "$rc" 2>/dev/null || echo 1)
rm -f "$rc"
exit "$status"
