#!/bin/sh
# cnn-import on broken Keras 3 .keras archives (tests/ref/keras3_ref.py bad
# writes them): one clear line naming the archive (and the member, layer or
# class), exit 1, no output file.
. "$(dirname "$0")/../lib.sh"
if [ ! -x "$BIN/cnn-import" ]; then skip "Keras .keras bad input" "cnn-import not built"; exit 0; fi
if ! $PY -c 'import torch, h5py' 2>/dev/null; then
    skip "Keras .keras bad input" "Debian's python3-torch/python3-h5py missing"; exit 0
fi
B=$T/bad
$PY "$TOP/tests/ref/keras3_ref.py" bad "$B" >"$T/gen.log" 2>&1 || { fail "writing the broken archives" "$(tail -c 300 "$T/gen.log")"; exit 0; }
check "the intact archive imports" cnn-import -q "$B/good.keras" -o "$T/good.h5"
bad() {   # bad WHAT FILE REGEX
    check_error "$1" 1 "^cnn-import: .*$2.keras:( |model.weights.h5: )$3" "$T/out.h5" cnn-import -q "$B/$2.keras" -o "$T/out.h5"
}
bad "a zip without config.json" noconfig "a zip without config.json"
bad "a zip without model.weights.h5" noweights "no model.weights.h5 in the archive"
bad "a truncated zip" truncated "not a readable zip archive"
bad "a stored member whose CRC does not match" crc "member 'model.weights.h5' is corrupt"
bad "config.json that is not JSON" badjson "config.json is not valid JSON \(line 1"
bad "model.weights.h5 that is not HDF5" badweights "not an HDF5 file"
bad "model.weights.h5 cut in half" shortweights "(cannot open as HDF5|corrupt HDF5)"
bad "an unknown layer class names layer and class" unknown "unsupported layer class 'Dot' \(layer 'dot_a'\)"
bad "Add of shapes that do not broadcast" bcast "layer 'add_a' \(Add\): inputs 'pre' \(6x7x4\) and 'pre2' \(6x7x3\) do not broadcast"
bad "UpSampling2D bicubic" bicubic "layer 'up' \(UpSampling2D\): interpolation 'bicubic' is not supported"
bad "Permute" permute "layer 'perm' \(Permute\): reorders axes"
printf 'PK\005\006' >"$T/empty.keras"; printf '\0%.0s' $(seq 18) >>"$T/empty.keras"
check_error "an empty zip: no config.json" 1 "^cnn-import: .*empty.keras: a zip without config.json" "$T/out.h5" \
    cnn-import -q "$T/empty.keras" -o "$T/out.h5"
exit 0
