#!/bin/sh
# pipelines/video.mk: a clip through a model, frame by frame, to MP4 and GIF.
# The clip is made here by ffmpeg with each frame's number drawn into it as
# a binary bar code, so frame k of the output must show bar code k; the
# frame count and rate must survive. Bad videos stop with one line and
# leave no output.
. "$(dirname "$0")/../lib.sh"

for t in ffmpeg ffprobe parallel; do
    if ! command -v $t >/dev/null; then skip "video pipeline" "no $t"; exit 0; fi
done
for t in cnn-images cnn-forward cnn-saliency cnn-patches cnn-render cnn-info; do
    if [ ! -x "$BIN/$t" ]; then fail "$t is built" "no $BIN/$t"; exit 1; fi
done

# A small model (64x64 input, conv -> relu -> pool -> global pool -> dense)
# and a dataset of random images for the unit's patches.
cat >"$T/m.py" <<'PY'
import h5py, numpy as np, sys
d = sys.argv[1]
rng = np.random.default_rng(2)
with h5py.File(d + '/m.h5', 'w') as f:
    f.attrs['kind'] = 'model'
    f.attrs['input_shape'] = np.array([3, 64, 64], np.int64)
    f.create_dataset('classes', data=['a', 'b', 'c'], dtype=h5py.string_dtype())
    def node(i, name, op, **attrs):
        g = f.create_group('nodes/%04d' % i)
        g.attrs['name'] = name; g.attrs['op'] = op
        for k, v in attrs.items():
            g.attrs[k] = np.atleast_1d(np.array(v, np.float64))
        return g
    g = node(0, 'conv1', 'Conv', pad=[1]); g.attrs['inputs'] = 'input'
    g['weight'] = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    g['bias'] = rng.standard_normal(4).astype(np.float32)
    node(1, 'relu1', 'ReLU')
    node(2, 'pool1', 'MaxPool', kernel=[2, 2])
    node(3, 'gap', 'GlobalAvgPool')
    g = node(4, 'fc', 'Dense')
    g['weight'] = rng.standard_normal((3, 4)).astype(np.float32)
with h5py.File(d + '/ds.h5', 'w') as f:
    f.attrs['kind'] = 'images'; f.attrs['history'] = 'fixture'
    f['images'] = rng.uniform(0, 1, (12, 3, 64, 64)).astype(np.float32)
PY
$PY "$T/m.py" "$T" || { fail "fixtures"; exit 1; }

# 40 frames at 20 fps, 64x64: bar b (x in [8b, 8b+8)) is white when bit b
# of the frame number is set. (Size and rate differ from the demo's.)
ffmpeg -nostdin -v error -f lavfi -i "color=c=gray:s=64x64:r=20:d=2" \
    -vf "geq=lum='if(mod(floor(N/pow(2\,floor(X/8)))\,2)\,235\,16)':cb=128:cr=128" \
    -c:v libx264 -pix_fmt yuv420p -qp 0 "$T/clip.mp4" 2>"$T/ff.err" ||
    { fail "making the test clip" "$(head -c 300 "$T/ff.err")"; exit 1; }

MK="make -s -C $TOP -f pipelines/video.mk BIN=$BIN OUT=$T/out VIDEO_MODEL=$T/m.h5 \
VIDEO_LAYER=pool1 VIDEO_UNIT=1 VIDEO_DATASET=$T/ds.h5 VIDEO_SIZE=64x64 VIDEO_JOBS=2 \
VIDEO_CHUNK=7 VIDEO_GIF_FPS=5 VIDEO_GIF_WIDTH=200"

check "make video VIDEO=clip.mp4" $MK video VIDEO="$T/clip.mp4"
for f in clip.mp4 clip.gif; do
    if [ -s "$T/out/video/$f" ]; then pass "writes \$(OUT)/video/$f"; else fail "writes \$(OUT)/video/$f"; fi
done
probe() { ffprobe -v error -count_frames -select_streams v:0 \
    -show_entries stream=nb_read_frames,r_frame_rate -of csv=p=0 "$1"; }
a=$(probe "$T/clip.mp4"); b=$(probe "$T/out/video/clip.mp4")
if [ "$a" = "$b" ] && [ "$a" = "20/1,40" ]; then pass "same frame rate and count ($b)"
else fail "same frame rate and count" "input $a, output $b"; fi
g=$(ffprobe -v error -count_frames -show_entries stream=nb_read_frames -of csv=p=0 "$T/out/video/clip.gif")
if [ "$g" = 10 ]; then pass "the GIF has 2 s at 5 frames a second"; else fail "the GIF has 10 frames" "$g"; fi

# Frame k of the MP4 (and of the rendered PNGs) shows frame k's bar code in
# the input image, drawn at its own size at (8, 32) (actview.h's layout).
mkdir -p "$T/dec"
ffmpeg -nostdin -v error -i "$T/out/video/clip.mp4" "$T/dec/%06d.png"
cat >"$T/order.py" <<'PY'
import glob, sys
import numpy as np
from PIL import Image
def code(path):
    P = np.asarray(Image.open(path).convert('L')).astype(int)
    return sum(1 << b for b in range(8) if P[8 + 32 + 32, 8 + 8 * b + 4] > 128)
for pat, first in ((sys.argv[1], 1), (sys.argv[2], 0)):
    files = sorted(glob.glob(pat))
    assert len(files) == 40, (pat, len(files))
    for k, f in enumerate(files):
        assert int(f[-10:-4]) == k + first, f
        assert code(f) == k, '%s shows frame %d, want %d' % (f, code(f), k)
print('ok')
PY
check_py "output frame k shows input frame k (MP4 and rendered PNGs)" "$T/order.py" \
    "$T/dec/*.png" "$T/out/video/clip/render/*.png"
check "a second make does nothing" $MK video VIDEO="$T/clip.mp4" -q

# Bad input: one line from the pipeline, no outputs.
echo "not a video" >"$T/bad.mp4"
printf 'YUV4MPEG2 W64 H64 F30:1 Ip A1:1 C420jpeg\n' >"$T/empty.y4m"
ffmpeg -nostdin -v error -f lavfi -i anullsrc -t 0.5 "$T/sound.m4a" 2>/dev/null
vid_error() {  # WHAT REGEX FILE [MAKE ARGS]
    what=$1 re=$2 f=$3; shift 3
    $MK video VIDEO="$f" "$@" >"$T/.out" 2>"$T/.err"; rc=$?
    n=$(basename "$f"); n=${n%.*}
    if [ $rc -eq 0 ]; then fail "$what" "exit 0"
    elif ! grep -Eq "$re" "$T/.err"; then fail "$what" "stderr: $(head -c 300 "$T/.err")"
    elif ls "$T/out/video/$n".* "$T/out/video/.$n"* >/dev/null 2>&1; then
        fail "$what" "left $(ls -d "$T/out/video/$n".* "$T/out/video/.$n"* 2>/dev/null)"
    else pass "$what"; fi
}
vid_error "a file ffmpeg cannot read" "^video: .*bad.mp4: ffmpeg cannot read a video stream" "$T/bad.mp4"
vid_error "a video of zero frames" "^video: .*empty.y4m: no frames" "$T/empty.y4m"
vid_error "sound without video" "^video: .*sound.m4a: ffmpeg cannot read a video stream" "$T/sound.m4a"
vid_error "a missing file" "^video: .*nothere.mp4: no such file" "$T/nothere.mp4"
cp "$T/clip.mp4" "$T/flat.mp4"
vid_error "a layer without spatial maps" "layer 'gap' has no spatial maps" "$T/flat.mp4" VIDEO_LAYER=gap
if [ -d "$T/out/video/flat/render" ] || [ -d "$T/out/video/flat/render.tmp" ]; then
    fail "no rendered frames are left after a failure"
else pass "no rendered frames are left after a failure"; fi
