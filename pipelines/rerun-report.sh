#!/bin/sh
# rerun-report.sh [--root DIR] [--work DIR] [--with PATH]... PAGE.html
#
# Re-makes every PNG figure of a page written by `cnn-render html` from its
# own history alone and compares it with the figure pixel for pixel. For
# each figure: `cnn-info --history FIGURE.png` (the commands of all its
# inputs, then cnn-render's), run command by command in an empty folder
# holding only data/ (a link to ROOT/data; ROOT, default the current folder,
# is where the commands ran: the repository root for `make demo`). The
# commands that made the files under data/ are not run again: data/ is
# given. A command runs once per distinct set of commands run before it:
# its outputs are kept in a cache keyed by that set and itself, so figures
# that share a model share its training, while a figure whose history lacks
# a command never borrows that command's outputs. Prints one line per figure
#   rerun: PATH: same pixels (N commands)
#   rerun: PATH: FAILED: why
# then a summary; exit 0 when every PNG figure re-ran to the same pixels, 1
# when one did not (a command failed, the PNG is not made, or its pixels
# differ), 2 on usage. An MP4 figure's commands are the lines of its
# caption file after the caption (FIGURE.mp4.txt, runnable as they stand:
# pipelines/video-commands.sh writes the demo's): they run in an empty
# folder the same way, and the clip they make is compared with the figure
# frame by frame (ffmpeg's framemd5 of the decoded pictures). Other figures
# (GIF) are listed as not re-run. --with PATH links
# ROOT/PATH too (a committed input, as pipelines/imagenet-cat-mask.png;
# repeatable). --work DIR: the cache, the scripts and the folders of the
# figures that failed stay there (default: a temporary, removed at exit; a
# figure's folder goes as soon as it passes). The cnntools must
# be on PATH (make demo: bin/); Debian's python3 with Pillow compares.
set -u
root=$(pwd) work= with=
PY=${PY:-/usr/bin/python3}
while [ $# -gt 1 ]; do
    case $1 in
    --root) root=$(cd "$2" && pwd) || exit 2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --with) with="$with
$2"; shift 2 ;;
    *) break ;;
    esac
done
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "rerun-report: usage: rerun-report.sh [--root DIR] [--work DIR] [--with PATH]... PAGE.html (${1:-no page}: no such file)" >&2
    exit 2
fi
page=$1
pagedir=$(cd "$(dirname "$page")" && pwd)
if [ ! -d "$root/data" ]; then
    echo "rerun-report: $root/data: no data folder (the inputs the commands read)" >&2
    exit 2
fi
if ! command -v cnn-info >/dev/null 2>&1; then
    echo "rerun-report: cnn-info is not on PATH (PATH=bin:\$PATH)" >&2
    exit 2
fi
if [ -z "$work" ]; then
    work=$(mktemp -d "${TMPDIR:-/tmp}/rerun-report.XXXXXX") || exit 1
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/cache" "$work/scripts" || exit 1
work=$(cd "$work" && pwd)

# "STAMP COMMAND" of each command of a script of cnn-info --history.
keys() { awk '/^# [0-9]/ { s = $2; next } /^#|^set -e$|^mkdir -p / { next } { print s " " $0 }' "$1"; }

# The commands that made data/: given, never run again.
: >"$work/data-lines"
find -L "$root/data" -name '*.h5' -type f 2>/dev/null | while read -r f; do
    cnn-info --history "$f" >"$work/scripts/data.sh" 2>/dev/null && keys "$work/scripts/data.sh"
done | sort -u >"$work/data-lines"

# rerun N FIGURE REL: replay FIGURE's history in $work/fN; REL is where the
# figure lies below ROOT (where the replay writes it). Sets why on failure.
# An empty folder $work/fN for figure N: data/ and the --with paths linked.
workdir() {
    rm -rf "$dir" && mkdir -p "$dir" && ln -s "$root/data" "$dir/data" || { why="no work folder"; return 1; }
    printf '%s\n' "$with" | while IFS= read -r p; do
        [ -n "$p" ] && mkdir -p "$dir/$(dirname "$p")" && ln -s "$root/$p" "$dir/$p"
    done
    return 0
}

rerun() {
    n=$1 fig=$2 rel=$3 dir=$work/f$1 script=$work/scripts/$1.sh ncmd=0
    : >"$work/before"
    workdir || return 1
    if ! cnn-info --history "$fig" >"$script" 2>"$work/err"; then
        why=$(head -1 "$work/err"); return 1
    fi
    if grep -Eq '(^| )(-o|--output|--projections|>) /|--output=/' "$script"; then
        why="a command writes to an absolute path (run the pipeline with relative paths)"
        return 1
    fi
    mk=$(grep '^mkdir -p ' "$script")
    [ -n "$mk" ] && (cd "$dir" && eval "$mk")
    keys "$script" >"$work/keys"
    while IFS= read -r key; do
        grep -qxF -- "$key" "$work/data-lines" && continue
        cmd=${key#* }
        ncmd=$((ncmd + 1))
        # The cache key: this command and the set of commands run before it
        # here (their order aside: each ran after what made its inputs).
        chain=$({ sort "$work/before"; printf -- '--\n%s\n' "$key"; } | md5sum | cut -c1-32)
        printf '%s\n' "$key" >>"$work/before"
        c=$work/cache/$chain
        if [ -d "$c" ]; then
            cp -R "$c/." "$dir/" || { why="cannot copy the cache"; return 1; }
            continue
        fi
        touch "$work/stamp"
        sleep 0.01 2>/dev/null
        if ! (cd "$dir" && eval "$cmd") </dev/null >"$work/log" 2>&1; then
            why="command $ncmd failed: $cmd: $(grep -v '^$' "$work/log" | tail -1)"
            return 1
        fi
        mkdir -p "$c.tmp" &&
            (cd "$dir" && find . -path ./data -prune -o -type f -newer "$work/stamp" -print |
                 while IFS= read -r f; do cp --parents "$f" "$c.tmp/"; done) &&
            mv "$c.tmp" "$c"
    done <"$work/keys"
    if [ ! -f "$dir/$rel" ]; then
        why="the commands ran but did not make $rel"; return 1
    fi
    if ! "$PY" -c '
import sys, numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p)) for p in sys.argv[1:3])
if a.shape != b.shape:
    sys.exit("size %s, the figure %s" % (b.shape, a.shape))
d = np.argwhere(np.any(a != b, axis=-1) if a.ndim == 3 else a != b)
if len(d):
    sys.exit("%d pixels differ, the first at row %d column %d" % (len(d), d[0][0], d[0][1]))
' "$fig" "$dir/$rel" 2>"$work/err"; then
        why=$(tail -1 "$work/err"); return 1
    fi
    why="same pixels ($ncmd commands)"
    rm -rf "$dir"
    return 0
}

# rerun_clip N FIGURE REL: run the commands of FIGURE.txt (its lines after
# the caption) in $work/fN, then compare the clip made at REL with FIGURE
# frame by frame. Sets why.
frames() { ffmpeg -nostdin -hide_banner -v error -i "$1" -f framemd5 - 2>/dev/null | grep -v '^#'; }
rerun_clip() {
    n=$1 fig=$2 rel=$3 dir=$work/f$1 script=$work/scripts/$1.sh
    if [ ! -f "$fig.txt" ]; then why="no caption file $fig.txt (its commands)"; return 1; fi
    if ! command -v ffmpeg >/dev/null 2>&1; then why="no ffmpeg to compare the frames"; return 1; fi
    workdir || return 1
    { echo 'set -e'; tail -n +2 "$fig.txt"; } >"$script"
    ncmd=$(tail -n +2 "$fig.txt" | grep -c .)
    if grep -Eq '(^| )(-o|>) /' "$script"; then
        why="a command writes to an absolute path (run the pipeline with relative paths)"
        return 1
    fi
    if ! (cd "$dir" && sh "$script") </dev/null >"$work/log" 2>&1; then
        why="its commands failed: $(grep -v '^$' "$work/log" | tail -1)"
        return 1
    fi
    if [ ! -f "$dir/$rel" ]; then why="the commands ran but did not make $rel"; return 1; fi
    frames "$fig" >"$work/fa"; frames "$dir/$rel" >"$work/fb"
    na=$(grep -c . "$work/fa"); nb=$(grep -c . "$work/fb")
    if [ "$na" -eq 0 ] || [ "$na" -ne "$nb" ]; then
        why="$nb frames, the figure $na"; return 1
    fi
    nd=$(paste -d '|' "$work/fa" "$work/fb" | awk -F'|' '$1 != $2' | wc -l)
    if [ "$nd" -ne 0 ]; then why="$nd of $na frames differ"; return 1; fi
    why="same frames ($ncmd commands, $na frames)"
    rm -rf "$dir"
    return 0
}

sed -n 's/.*<figure id="fig-[0-9]*" data-src="\([^"]*\)".*/\1/p' "$page" |
    sed "s/&quot;/\"/g; s/&#39;/'/g; s/&lt;/</g; s/&gt;/>/g; s/&amp;/\\&/g" >"$work/figures"
total=0 passed=0 failed=0 skipped=0
while IFS= read -r src; do
    total=$((total + 1))
    fig=$pagedir/$src
    case $src in
    *.png|*.PNG) how=rerun ;;
    *.mp4|*.MP4) how=rerun_clip ;;
    *) skipped=$((skipped + 1)); echo "rerun: $src: not a PNG or MP4: not re-run (its commands are in $src.txt)"; continue ;;
    esac
    abs=$(cd "$(dirname "$fig")" && pwd)/$(basename "$fig")
    case $abs in
    "$root"/*) rel=${abs#"$root"/} ;;
    *) rel= ;;
    esac
    why="not below $root, where the commands ran"
    if [ -n "$rel" ] && $how "$total" "$fig" "$rel"; then
        passed=$((passed + 1)); echo "rerun: $src: $why"
    else
        failed=$((failed + 1)); echo "rerun: $src: FAILED: $why"
    fi
done <"$work/figures"
echo "rerun: $total figures: $passed re-ran to the same pixels, $failed failed, $skipped not re-run"
[ "$failed" -eq 0 ] && [ "$total" -gt 0 ]
