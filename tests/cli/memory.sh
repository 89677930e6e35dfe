#!/bin/sh
# Memory bounded by what the command selects (issue 17 item 7, issue 19
# item 1): engines and buffers hold min(--batch, rows) rows, so a huge
# --batch on a few rows costs what the rows cost (before: cnn-forward
# --batch 65536 on 3 rows was killed for memory at 19.6 GB RSS); cnn-images
# makes its batch only once an image has decoded (a 61-byte PNG claiming
# 8000x8000 pixels cost 15 GB). Peak RSS from wait4(2); the tools run under
# a 4 GB address-space limit so that a regression fails here instead of
# starving the machine.
. "$(dirname "$0")/../lib.sh"
H=$TOP/tests/cli

if [ -n "$CNN_ASAN" ]; then
    skip "peak memory of huge --batch" "sanitizer build (shadow memory)"
    echo "1..$_n"
    exit 0
fi

# rss LIMIT_MB WHAT CMD...: CMD exits 0 with a peak RSS under LIMIT_MB.
cat >"$T/rss.py" <<'PY'
import os, resource, sys
limit = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    os.execvp(sys.argv[3], sys.argv[3:])
_, st, ru = os.wait4(pid, 0)
rc = os.waitstatus_to_exitcode(st)
print("exit %d, peak RSS %d MB" % (rc, ru.ru_maxrss // 1024))
sys.exit(0 if rc == 0 and ru.ru_maxrss < limit * 1024 else 1)
PY
rss() {
    local lim=$1 what=$2; shift 2
    if $PY "$T/rss.py" "$lim" "$T/rss.err" "$@" >"$T/rss.out"; then pass "$what ($(cat "$T/rss.out"))"
    else fail "$what" "$(cat "$T/rss.out"), want exit 0 under $lim MB: $(head -c 300 "$T/rss.err")"; fi
}
# peak CMD...: the peak RSS in MB of a run that must succeed.
peak() { $PY "$T/rss.py" 100000 "$T/rss.err" "$@" | sed 's/.*RSS \([0-9]*\) MB/\1/'; }

$PY "$H/random_images.py" "$T/im.h5" 12 1 28 28 10
check "a model" cnn-train -q --epochs 0 "$T/im.h5" -o "$T/m.h5"
M=$T/m.h5

one=$(peak cnn-forward -q --batch 3 --range 0:3 -m "$M" "$T/im.h5" -o "$T/f1.h5")
rss 200 "forward --batch 65536 on 3 rows" cnn-forward -q --batch 65536 --range 0:3 -m "$M" "$T/im.h5" -o "$T/f.h5"
big=$(sed 's/.*RSS \([0-9]*\) MB/\1/' "$T/rss.out")
if [ -n "$one" ] && [ -n "$big" ] && [ "$big" -le $((one + one / 5 + 10)) ]; then
    pass "forward: --batch 65536 on 3 rows costs what --batch 3 does ($big MB against $one MB)"
else fail "forward: --batch 65536 on 3 rows costs what --batch 3 does" "$big MB against $one MB"; fi
rss 300 "train --batch 65536 on 12 rows" cnn-train -q --epochs 1 --batch 65536 "$T/im.h5" -o "$T/t.h5"
rss 200 "saliency --batch 65536" cnn-saliency -q --batch 65536 -m "$M" "$T/im.h5" -o "$T/s.h5"
rss 600 "occlude --batch 65536" cnn-occlude -q --batch 65536 -m "$M" "$T/im.h5" -o "$T/o.h5"
rss 200 "patches --batch 65536" cnn-patches -q --batch 65536 -l conv1 -m "$M" "$T/im.h5" -o "$T/p.h5"
rss 200 "perturb --batch 65536" cnn-perturb shuffle -q --tiles 2x2 --batch 65536 "$T/im.h5" -o "$T/pe.h5"
check "activations of 12 rows" cnn-forward -q -l conv1 -m "$M" "$T/im.h5" -o "$T/a.h5"
rss 200 "extract-layer --batch 65536" cnn-extract-layer -q --batch 65536 -l conv1 "$T/a.h5" -o "$T/x.h5"
rss 200 "topk --batch 65536" cnn-topk -q --batch 65536 --logits "$T/a.h5" -o "$T/k.h5"
rss 200 "pca --batch 65536" cnn-pca -q -k 2 --batch 65536 "$T/x.h5" -o "$T/pc.h5"
rss 200 "images --batch 65536" cnn-images -q --batch 65536 "$T/im.h5" -o "$T/i.h5"

# OpenBLAS and libtiff are loaded on first use (base/dynlib.h): a forward
# loads neither (2 MB and 1.4 MB resident), PCA loads OpenBLAS and a TIFF
# photo libtiff. As the re-executed program runs (cpu.c): the first one
# loads OpenBLAS to ask its core type.
loaded() {   # loaded LIB CMD...: whether the command's process loads LIB
    local lib=$1; shift
    CNN_NO_REEXEC=1 CNN_BLAS_THREADS= LD_DEBUG=files "$@" 2>&1 >/dev/null | grep -q "file=$lib"
}
if loaded libopenblas cnn-forward -q -m "$M" "$T/im.h5" -o "$T/f2.h5" ||
   loaded libtiff cnn-forward -q -m "$M" "$T/im.h5" -o "$T/f2.h5"; then
    fail "a forward loads neither OpenBLAS nor libtiff"
else pass "a forward loads neither OpenBLAS nor libtiff"; fi
if loaded libopenblas cnn-pca -q -k 2 "$T/x.h5" -o "$T/pc2.h5"; then pass "PCA loads OpenBLAS"
else fail "PCA loads OpenBLAS"; fi
$PY - "$T/p.tif" <<'PY'
import sys
from PIL import Image
Image.new("RGB", (28, 28), (200, 10, 50)).save(sys.argv[1])
PY
if loaded libtiff cnn-forward -q -m "$M" -p "$T/p.tif"; then pass "a TIFF photo loads libtiff"
else fail "a TIFF photo loads libtiff"; fi

# A PNG whose header claims 8000x8000 pixels, with no pixels: one line,
# exit 1, no output, and no memory for the pixels it does not have.
$PY - "$T/claim.png" <<'PY'
import struct, sys, zlib
def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8000, 8000, 8, 0, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(b"\0" * 8)[:4]) + chunk(b"IEND", b""))
PY
check_error "a PNG claiming 8000x8000 pixels: one line" 1 "^cnn-images: .*claim.png: " "$T/c.h5" \
    cnn-images "$T/claim.png" -o "$T/c.h5"
$PY "$T/rss.py" 100 "$T/rss.err" cnn-images "$T/claim.png" -o "$T/c.h5" >"$T/rss.out"
if grep -Eq '^exit 1, peak RSS [0-9]{1,2} MB$' "$T/rss.out"; then
    pass "a PNG claiming 8000x8000 pixels costs no pixels ($(cat "$T/rss.out"))"
else fail "a PNG claiming 8000x8000 pixels costs no pixels" "$(cat "$T/rss.out")"; fi

echo "1..$_n"
