#!/bin/sh
# pipelines/rerun-report.sh on a small fixture report: every figure is made
# again from its PNG's history alone, in an empty folder holding only data/
# (whose own commands, run in data/, are not replayed), and has the same
# pixels; a figure whose history lost one command fails, and is named.
. "$(dirname "$0")/../lib.sh"
RERUN=$TOP/pipelines/rerun-report.sh
R=$T/root
mkdir -p "$R/data" "$R/out/figs"
$PY "$TOP/tests/cli/history_fixture.py" "$R/data" || { fail "fixture data"; exit 1; }
run() { (cd "$1" && shift && "$@") >"$T/.out" 2>"$T/.err" || fail "run: $*" "$(head -c 300 "$T/.err")"; }
# data/set.h5 is made in data/ (as data/Makefile does): given, not replayed.
run "$R/data" cnn-images -q --size 16 p0.png p1.png -o set.h5
# Figure 1: two images files joined by cnn-join (shards of cnn-images),
# the set of data/ and a photo read by cnn-render's input directly.
run "$R" cnn-images -q --size 16 --range 0:2 data/set.h5 -o out/a.h5
run "$R" cnn-images -q --size 16 data/p2.png "data/it's a photo.png" -o out/b.h5
run "$R" cnn-join -q -o out/ab.h5 out/a.h5 out/b.h5
run "$R" cnn-render grid -q -o out/figs/grid.png out/ab.h5
# Figure 2: saliency of the model over the joined images, through a pipe.
run "$R" sh -c 'cnn-saliency -q -m data/m.h5 -M gradient -t class=1 out/ab.h5 | cnn-render heatmap -q --images out/ab.h5 -o out/figs/heat.png'
for f in grid heat; do printf '%s\n' "$f" >"$R/out/figs/$f.png.txt"; done
printf 'title Fixture\nsection a A\nfigure figs/grid.png\nfigure figs/heat.png\n' >"$T/r.def"
run "$R" cnn-render html -q -o out/index.html "$T/r.def"

if (cd "$R" && sh "$RERUN" --work "$T/w1" out/index.html) >"$T/r.out" 2>&1 &&
    grep -qx "rerun: 2 figures: 2 re-ran to the same pixels, 0 failed, 0 not re-run" "$T/r.out"; then
    pass "rerun: both figures made again from their histories, same pixels"
else
    fail "rerun: both figures made again from their histories, same pixels" "$(head -c 600 "$T/r.out")"
fi
check "rerun: the data/ command is in the history but not replayed; both shards' are" sh -c "
    grep -q 'p0.png p1.png -o set.h5' '$T/w1/scripts/1.sh' &&
    grep -q 'p0.png p1.png -o set.h5' '$T/w1/data-lines' &&
    grep -q 'cnn-images -q --size 16 --range 0:2 data/set.h5' '$T/w1/scripts/1.sh' &&
    grep -q 'photo.png' '$T/w1/scripts/1.sh'"
check "rerun: figure 2 reuses figure 1's commands from the cache (same leading commands)" \
    test "$(ls "$T/w1/cache" | wc -l)" -eq 5

# One command taken out of grid.png's history (the second shard's
# cnn-images): the PNG keeps its pixels, the re-run fails and names it.
cp -R "$R" "$T/cut"
$PY - "$T/cut/out/figs/grid.png" <<'PY' || fail "fixture: cut history"
import sys
from PIL import Image, PngImagePlugin
p = sys.argv[1]
im = Image.open(p)
h = [l for l in im.text['history'].split('\n') if 'photo.png' not in l or 'cnn-join' in l]
assert len(h) == len(im.text['history'].split('\n')) - 1
info = PngImagePlugin.PngInfo()
info.add_text('history', '\n'.join(h))
im.save(p, pnginfo=info)
PY
if (cd "$T/cut" && sh "$RERUN" out/index.html) >"$T/r.out" 2>&1; then
    fail "rerun: a history missing one command fails" "$(head -c 600 "$T/r.out")"
elif grep -q "rerun: figs/grid.png: FAILED: command 2 failed: cnn-join" "$T/r.out" &&
    grep -q "rerun: figs/heat.png: same pixels" "$T/r.out" &&
    grep -q "1 re-ran to the same pixels, 1 failed" "$T/r.out"; then
    pass "rerun: a history missing one command fails, naming the figure and the command"
else
    fail "rerun: a history missing one command fails, naming the figure and the command" \
        "$(head -c 600 "$T/r.out")"
fi
# A figure whose pixels differ from what its commands make fails.
cp -R "$R" "$T/px"
$PY - "$T/px/out/figs/heat.png" <<'PY' || fail "fixture: changed pixel"
import sys
from PIL import Image
p = sys.argv[1]
im = Image.open(p)
t = im.text
im = im.convert('RGB'); im.putpixel((0, 0), (1, 2, 3))
from PIL import PngImagePlugin
info = PngImagePlugin.PngInfo(); info.add_text('history', t['history']); im.save(p, pnginfo=info)
PY
if (cd "$T/px" && sh "$RERUN" out/index.html) >"$T/r.out" 2>&1; then
    fail "rerun: a changed pixel fails" "$(head -c 600 "$T/r.out")"
else
    check "rerun: a changed pixel fails, naming it" grep -q "heat.png: FAILED: 1 pixels differ, the first at row 0 column 0" "$T/r.out"
fi
# An MP4 figure: the lines of its caption file after the caption are its
# commands; they run in an empty folder and the clip they make is compared
# frame by frame. A commands line that makes other frames fails.
if command -v ffmpeg >/dev/null 2>&1; then
    M=$T/mp4
    mkdir -p "$M/data" "$M/out/figs"
    printf '%s\n' 'A test pattern clip.' 'mkdir -p out/figs' \
        "ffmpeg -nostdin -v error -y -f lavfi -i testsrc=size=32x32:rate=5 -frames:v 5 -c:v libx264 -pix_fmt yuv420p out/figs/clip.mp4" \
        >"$M/out/figs/clip.mp4.txt"
    (cd "$M" && tail -n +2 out/figs/clip.mp4.txt | sh -e) || fail "fixture: the clip"
    printf '<figure id="fig-1" data-src="figs/clip.mp4"></figure>\n' >"$M/out/index.html"
    if (cd "$M" && sh "$RERUN" out/index.html) >"$T/r.out" 2>&1 &&
        grep -q "rerun: figs/clip.mp4: same frames (2 commands, 5 frames)" "$T/r.out"; then
        pass "rerun: an MP4 figure made again from its caption file's commands, same frames"
    else
        fail "rerun: an MP4 figure made again from its caption file's commands, same frames" "$(head -c 600 "$T/r.out")"
    fi
    sed -i 's/testsrc=/testsrc2=/' "$M/out/figs/clip.mp4.txt"
    if (cd "$M" && sh "$RERUN" out/index.html) >"$T/r.out" 2>&1; then
        fail "rerun: an MP4 whose commands make other frames fails" "$(head -c 600 "$T/r.out")"
    else
        check "rerun: an MP4 whose commands make other frames fails, naming it" \
            grep -q "figs/clip.mp4: FAILED: 5 of 5 frames differ" "$T/r.out"
    fi
else
    skip "rerun: an MP4 figure" "no ffmpeg"
fi
check_error "rerun: no page: usage error" 2 "rerun-report: usage" "" sh "$RERUN" "$T/none.html"
echo "1..$_n"
