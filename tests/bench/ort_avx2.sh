#!/bin/sh
# ONNX Runtime on AVX2 alone, for the AVX2 build's bench on a machine with
# AVX-512 (tests/bench/zoo.sh with BENCH_ISA=avx2): a copy of the npm
# package in DEST whose MLAS takes the branch it takes on a CPU without
# AVX512F, so that it runs its AVX2/FMA3 kernels (NCHWc blocks of 8, the
# FMA3 SGEMM), as it would on the AVX2-only EPYC machines. ONNX Runtime
# has no setting for this: MLAS reads CPUID once (platform.cpp) and tests
# leaf 7's AVX512F bit, `test $0x10000,%r10d; je` in the 1.30.0 Linux x64
# library. This script finds those bytes, with the xgetbv test that
# follows them, exactly once, and turns the je into a jmp; anything else
# (another version or build) leaves no copy and says so. The original
# package is not changed.
# Usage: tests/bench/ort_avx2.sh SRC DEST (SRC: the folder npm installed
# onnxruntime-node into, as zoo.sh's out/bench-cache/ort). Exit 0 with the
# copy in DEST (kept if already made), 1 with a line on stderr otherwise.
src=${1:?usage: ort_avx2.sh SRC DEST}; dest=${2:?usage: ort_avx2.sh SRC DEST}
lib=node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
[ -f "$dest/$lib.avx2" ] && exit 0
[ -f "$src/$lib" ] || { echo "ort_avx2: no $lib in $src" >&2; exit 1; }
rm -rf "$dest.tmp" && mkdir -p "$(dirname "$dest")" && cp -r "$src" "$dest.tmp" || exit 1
if ! /usr/bin/python3 - "$dest.tmp/$lib" <<'PY'
import sys
p = sys.argv[1]
d = bytearray(open(p, 'rb').read())
# test $0x10000,%r10d; je +0x0e; mov %r8,%rax; not %rax; test $0xe0,%al
pat = bytes.fromhex('41f7c200000100740e4c89c048f7d0a8e0')
at = d.find(pat)
if at < 0 or d.find(pat, at + 1) >= 0:
    sys.exit('ort_avx2: the AVX512F test was not found once in this ONNX Runtime '
             'library (not the 1.30.0 Linux x64 build?)')
d[at + 7] = 0xEB   # je -> jmp: the AVX-512 kernels never chosen
open(p, 'wb').write(d)
PY
then
    rm -rf "$dest.tmp"
    exit 1
fi
: >"$dest.tmp/$lib.avx2"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
