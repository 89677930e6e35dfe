#!/bin/sh
# cnn-import on every file in tests/fuzz/regress/<format>/: inputs the
# fuzzers found (crashes, sanitizer reports, leaks, hangs, once fixed) and
# hand-made bad inputs (handmade-*). Each must end in exit 1 within 120 s,
# one line on stderr starting "cnn-import: ", no sanitizer report and no
# output file.
# Then every harness for a few seconds (below).
# tests/fuzz/README.md says how the fuzzing is run.
#   onnx/*  the file is the .onnx
#   h5/*    the file is the Keras .h5
#   tfjs/*  the file is model.json, in a folder with the weight shards of
#           tests/fuzz/seeds/tfjs-shards (as the fuzzing harness has it)
# A name containing ".foldbn." replays with --fold-bn (the harness fuzzes
# both); one containing ".h5lib." is a crash inside libhdf5 itself, which
# cnn-import turns into the usual error but AddressSanitizer reports, so it
# is skipped on the sanitizer build.
. "$(dirname "$0")/../lib.sh"
IMP=$BIN/cnn-import
if [ ! -x "$IMP" ]; then skip "cnn-import" "not built"; exit 0; fi
R=$TOP/tests/fuzz/regress
SHARDS=$TOP/tests/fuzz/seeds/tfjs-shards
O=$T/out.h5

# what a hand-made input's message must say
expect() {
    case $1 in
    handmade-external*) echo "external file" ;;
    handmade-huge*) echo "claims [0-9]+ elements \(2147483648 bytes\) but holds" ;;
    handmade-dynamic*) echo "dynamic size .*--size" ;;
    handmade-2gb*) echo "need 2147[0-9]+ bytes|claims 2147[0-9]+ bytes" ;;
    handmade-short-shard*) echo "its weights need [0-9]+ bytes but its shards hold" ;;
    handmade-no-shard*) echo "weight shard '.*' is missing" ;;
    oom-constantofshape*|timeout-concat-of-constants*) echo "constants take more than" ;;
    *global-heap*) echo "corrupt HDF5 file" ;;
    *) echo "" ;;
    esac
}

n=0
for f in "$R"/onnx/* "$R"/h5/* "$R"/tfjs/*; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    fmt=$(basename "$(dirname "$f")"); b=$(basename "$f")
    what="$fmt/$b"
    case $b in
    *.h5lib.*) if [ -n "$CNN_ASAN" ]; then skip "$what" "libhdf5 itself fails under ASan"; continue; fi ;;
    esac
    set --
    case $b in *.foldbn.*) set -- --fold-bn ;; esac
    src=$f
    if [ "$fmt" = tfjs ]; then
        src=$T/tfjs-$n
        mkdir -p "$src" && cp "$SHARDS"/* "$src"/ && cp "$f" "$src/model.json"
    fi
    re="^cnn-import: "
    e=$(expect "$b")
    [ -n "$e" ] && re="^cnn-import: .*($e)"
    # a hang is a failure too (exit 124)
    check_error "$what: one clear line, exit 1" 1 "$re" "$O" timeout 120 "$IMP" "$@" "$src" -o "$O"
    if grep -Eq 'Sanitizer|runtime error' "$T/.err"; then
        fail "$what: no sanitizer report" "$(head -c 300 "$T/.err")"
    fi
    rm -rf "$O" "$T/tfjs-$n"
done
[ "$n" -gt 0 ] || skip "fuzzing regression files" "none in tests/fuzz/regress"

# Every fuzzing harness, short, with the plain driver (tests/fuzz/driver.c,
# built by `make all` as $BUILD/tests/fuzzrun_<target>, so on the
# sanitiser build too): its seeds and regression files as they are, then a
# fixed set of mutations of them (the same on every machine), each in the
# harness' process; any crash, hang, sanitizer report or error message
# that is not one line fails. `make fuzz` runs the same harnesses longer
# under libFuzzer. On the sanitiser build the HDF5 targets replay their
# files without mutations: libhdf5 1.10 crashes on some corrupt files,
# which h5io turns into the usual error on the normal build but
# AddressSanitizer must report, and its reports inside libhdf5 cannot be
# told from ours.
RUNS=${FUZZ_RUNS:-150}
for t in onnx tfjs h5 image imagefmt exif idx json h5images h5act h5maps h5pca h5model; do
    drv=$BUILD/tests/fuzzrun_$t
    if [ ! -x "$drv" ]; then skip "fuzz target $t" "$drv not built"; continue; fi
    r=$RUNS x=
    if [ -n "$CNN_ASAN" ]; then
        x=.h5lib.
        case $t in h5*) r=0 ;; esac
    fi
    set -- "$TOP/tests/fuzz/seeds/$t"
    [ -d "$TOP/tests/fuzz/regress/$t" ] && set -- "$@" "$TOP/tests/fuzz/regress/$t"
    mkdir -p "$T/art-$t"
    if FUZZ_SHARDS=$SHARDS FUZZ_ARTIFACTS=$T/art-$t \
       ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}allocator_may_return_null=1 \
       timeout 300 "$drv" -r "$r" -t 20 ${x:+-x "$x"} "$@" >"$T/drv.out" 2>"$T/drv.err"; then
        pass "fuzz target $t: $(tail -n 1 "$T/drv.out")"
    else
        fail "fuzz target $t" "$(tail -c 600 "$T/drv.err")"
    fi
done
exit 0
