#!/bin/sh
# cnn-import: small Keras models (written by tests/ref/keras_tiny.py, no
# Keras needed) import from TF.js and .h5; bad input ends in one clear line,
# exit 1 and no output file. Here rather than in tests/ref so that
# `make test-asan` runs the bad inputs under AddressSanitizer.
. "$(dirname "$0")/../lib.sh"
IMP=$BIN/cnn-import
if [ ! -x "$IMP" ]; then skip "cnn-import" "not built"; exit 0; fi
if ! $PY "$TOP/tests/ref/keras_tiny.py" "$T/k" 2>"$T/.err"; then
    fail "keras_tiny.py writes the test models" "$(cat "$T/.err")"; exit 0
fi
K=$T/k
O=$T/out.h5

# ---- good input
check "TF.js folder imports" "$IMP" -q "$K/func" -o "$T/func.h5"
check "TF.js model.json path imports" "$IMP" -q "$K/func/model.json" -o "$T/func2.h5"
check "Keras .h5 (functional) imports" "$IMP" -q "$K/func.h5" -o "$T/funch5.h5"
check "Keras .h5 (Sequential, no InputLayer) imports" "$IMP" -q "$K/seq.h5" -o "$T/seq.h5"
check "--fold-bn imports" "$IMP" -q --fold-bn "$K/func" -o "$T/fold.h5"
check "--mean/--std/--size accepted" "$IMP" -q --mean 0.5,0.5,0.5 --std 0.25 --size 10x8 "$K/func" -o "$T/pre.h5"
check_py "imported files are model files" -c "
import h5py, sys
for p in sys.argv[1:]:
    f = h5py.File(p, 'r')
    k = f.attrs['kind']
    assert (k.decode() if isinstance(k, bytes) else k) == 'model', p
" "$T/func.h5" "$T/funch5.h5" "$T/seq.h5" "$T/fold.h5"
"$IMP" -q "$K/func" >"$T/stdout.h5" 2>"$T/.err" </dev/null
if cmp -s "$T/stdout.h5" "$T/func.h5" || [ -s "$T/stdout.h5" ]; then pass "writes the model to standard output without -o"
else fail "writes the model to standard output without -o" "$(cat "$T/.err")"; fi

# Keras 3 writes inbound nodes as {"args": [keras tensors], "kwargs": {}}
# and input_layers as one triple: the same graph must come out.
variant0() { rm -rf "$T/$1"; cp -r "$K/func" "$T/$1"; }
variant0 k3
$PY -c "
import json, sys
p = sys.argv[1]; j = json.load(open(p))
cfg = j['modelTopology']['model_config']
cfg['class_name'] = 'Functional'
for l in cfg['config']['layers']:
    if l['class_name'] == 'InputLayer':
        l['config']['batch_shape'] = l['config'].pop('batch_input_shape')
    t = [{'class_name': '__keras_tensor__', 'config': {'shape': None, 'dtype': 'float32',
          'keras_history': [i[0], 0, 0]}} for n in l['inbound_nodes'] for i in n]
    l['inbound_nodes'] = [{'args': [t] if len(t) > 1 else t, 'kwargs': {'training': False}}] if t else []
cfg['config']['input_layers'] = cfg['config']['input_layers'][0]
cfg['config']['output_layers'] = cfg['config']['output_layers'][0]
json.dump(j, open(p, 'w'))" "$T/k3/model.json"
check "Keras 3 style topology imports" "$IMP" -q "$T/k3" -o "$T/k3.h5"
# TF.js quantised weights (uint8 affine, float16): dequantised on import.
variant0 quant
$PY -c "
import json, os, sys
import numpy as np
d = sys.argv[1]; p = os.path.join(d, 'model.json'); j = json.load(open(p))
for gi, g in enumerate(j['weightsManifest']):
    buf = b''.join(open(os.path.join(d, s), 'rb').read() for s in g['paths'])
    off, out = 0, b''
    for w in g['weights']:
        n = int(np.prod(w['shape']))
        a = np.frombuffer(buf, '<f4', n, off); off += 4 * n
        if gi == 0:
            lo, hi = float(a.min()), float(a.max()); sc = (hi - lo) / 255 or 1.0
            out += np.round((a - lo) / sc).astype(np.uint8).tobytes()
            w['quantization'] = {'dtype': 'uint8', 'scale': sc, 'min': lo}
        else:
            out += a.astype('<f2').tobytes()
            w['quantization'] = {'dtype': 'float16'}
    for s in g['paths']:
        os.remove(os.path.join(d, s))
    g['paths'] = ['q%d' % gi]
    open(os.path.join(d, 'q%d' % gi), 'wb').write(out)
json.dump(j, open(p, 'w'))" "$T/quant"
check "TF.js uint8/float16 quantised weights import" "$IMP" -q "$T/quant" -o "$T/quant.h5"
cat >"$T/same.py" <<'PYEOF'
import sys
import h5py
import numpy as np
a, b, tol = h5py.File(sys.argv[1], 'r'), h5py.File(sys.argv[2], 'r'), float(sys.argv[3])
na, nb = sorted(a['nodes']), sorted(b['nodes'])
assert na == nb, 'node counts differ'
for k in na:
    x, y = a['nodes'][k], b['nodes'][k]
    for at in x.attrs:
        assert np.all(np.asarray(x.attrs[at]) == np.asarray(y.attrs[at])), (k, at)
    assert sorted(x) == sorted(y), k
    for w in x:
        d = np.abs(x[w][()] - y[w][()]).max() / max(1.0, np.abs(x[w][()]).max())
        assert d <= tol, '%s/%s differs by %g' % (x.attrs['name'], w, d)
PYEOF
check_py "Keras 3 style gives the same model" "$T/same.py" "$T/func.h5" "$T/k3.h5" 0
check_py ".h5 gives the same model as TF.js" "$T/same.py" "$T/func.h5" "$T/funch5.h5" 0
check_py "quantised weights dequantise to within a step" "$T/same.py" "$T/func.h5" "$T/quant.h5" 0.01

# ---- usage
check_error "no SRC is a usage error" 2 "cnn-import: .*SRC" "" "$IMP" -o "$O"
check_error "--scale with --mean is a usage error" 2 "exclude" "$O" "$IMP" --scale 255 --mean 0.5 "$K/func" -o "$O"
check_error "missing SRC" 1 "nope.json: cannot open" "$O" "$IMP" "$T/nope.json" -o "$O"
: >"$T/empty"
check_error "empty file" 1 "unrecognised model format \(an empty file\)" "$O" "$IMP" "$T/empty" -o "$O"
printf 'a\nb\nc\n' >"$T/three.txt"
check_error "--classes with the wrong count" 1 "3 class names but the model has 5 outputs" "$O" \
    "$IMP" -q --classes "$T/three.txt" "$K/func" -o "$O"

# ---- broken TF.js models: each a copy of func/ with one thing wrong
variant() {   # variant NAME PYTHON-EDIT-OF-j (the parsed model.json)
    rm -rf "$T/$1"; cp -r "$K/func" "$T/$1"
    [ -n "$2" ] && $PY -c "
import json, sys
p = sys.argv[1]; j = json.load(open(p))
layers = j['modelTopology']['model_config']['config']['layers']
byname = {l['name']: l for l in layers}
$2
json.dump(j, open(p, 'w'))" "$T/$1/model.json"
}
$PY -c "
import random; random.seed(5)
open('$T/rand.json', 'wb').write(bytes(random.randrange(256) for _ in range(4000)))"
check_error "random bytes as model.json" 1 "rand.json: (unrecognised model format|not valid JSON)" "$O" "$IMP" "$T/rand.json" -o "$O"
variant trunc ""; head -c 700 "$K/func/model.json" >"$T/trunc/model.json"
check_error "truncated model.json" 1 "model.json: not valid JSON \(line" "$O" "$IMP" "$T/trunc" -o "$O"
echo '{"a": 1, "weightsManifest": []}' >"$T/notfjs.json"
check_error "JSON without modelTopology" 1 "no 'modelTopology'" "$O" "$IMP" "$T/notfjs.json" -o "$O"
$PY -c "
import json; j = json.load(open('$K/func/model.json'))
json.dump(j['modelTopology']['model_config'], open('$T/arch.json', 'w'))"
check_error "architecture-only JSON" 1 "without weights" "$O" "$IMP" "$T/arch.json" -o "$O"
variant noshard ""; rm "$T/noshard/group2-shard2of2"
check_error "missing weight shard" 1 "weight shard 'group2-shard2of2' is missing" "$O" "$IMP" "$T/noshard" -o "$O"
variant short ""; $PY -c "
import os; p = '$T/short/group1-shard1of1'; os.truncate(p, os.path.getsize(p) - 4)"
check_error "short weight shard" 1 "group 1: its weights need [0-9]+ bytes but its shards hold [0-9]+" "$O" "$IMP" "$T/short" -o "$O"
variant shapes "j['weightsManifest'][1]['weights'][0]['shape'][0] += 1"
check_error "manifest shapes that do not add up" 1 "group 2: its weights need" "$O" "$IMP" "$T/shapes" -o "$O"
variant huge "j['weightsManifest'][0]['weights'][0]['shape'] = [536870912]"
check_error "a weight claiming 2 GB in a small shard" 1 "need 2147[0-9]+ bytes but its shards hold" "$O" "$IMP" "$T/huge" -o "$O"
variant absurd "j['weightsManifest'][0]['weights'][0]['shape'] = [2**40, 2**40]"
check_error "an absurd weight shape" 1 "bad shape|absurd" "$O" "$IMP" "$T/absurd" -o "$O"
variant wshape "j['weightsManifest'][0]['weights'][0]['shape'] = j['weightsManifest'][0]['weights'][0]['shape'][::-1] + [1]"
check_error "a weight whose shape the layer does not imply" 1 "has shape .* the layer's config implies|need" "$O" "$IMP" "$T/wshape" -o "$O"
variant layer "byname['leaky_e']['class_name'] = 'Bidirectional'"
check_error "unsupported layer names class and layer" 1 "unsupported layer class 'Bidirectional' \(layer 'leaky_e'\)" "$O" "$IMP" "$T/layer" -o "$O"
variant act "byname['dense_j']['config']['activation'] = 'softsign'"
check_error "unsupported activation" 1 "layer 'dense_j' \(Dense\): activation 'softsign' is not supported" "$O" "$IMP" "$T/act" -o "$O"
variant dangling "byname['add_d']['inbound_nodes'][0][1][0] = 'nope'"
check_error "input from a layer that does not exist" 1 "layer 'add_d' \(Add\): input 'nope' is not a layer" "$O" "$IMP" "$T/dangling" -o "$O"
variant cycle "byname['conv_a']['inbound_nodes'][0][0][0] = 'add_d'"
check_error "a cycle" 1 "cycle" "$O" "$IMP" "$T/cycle" -o "$O"
variant types "byname['conv_a']['config']['kernel_size'] = 'big'"
check_error "a config value of the wrong type" 1 "layer 'conv_a' \(Conv2D\): 'kernel_size' should be" "$O" "$IMP" "$T/types" -o "$O"
variant nolayers "j['modelTopology']['model_config']['config']['layers'] = []"
check_error "no layers" 1 "no layers" "$O" "$IMP" "$T/nolayers" -o "$O"
variant pool "byname['pool_f']['inbound_nodes'][0][0][0] = 'pad_b'; byname['dw_b']['inbound_nodes'][0][0][0] = 'bn_a'"
check_error "ZeroPadding2D before a pooling layer" 1 "layer 'pool_f' \(MaxPooling2D\): follows a ZeroPadding2D" "$O" "$IMP" "$T/pool" -o "$O"
variant nan ""; $PY -c "
import struct; p = '$T/nan/group1-shard1of1'; b = bytearray(open(p, 'rb').read())
b[0:4] = struct.pack('<f', float('nan')); open(p, 'wb').write(b)"
check_error "a NaN weight" 1 "non-finite" "$O" "$IMP" "$T/nan" -o "$O"

# ---- broken Keras .h5 files
head -c 3000 "$K/func.h5" >"$T/trunc.h5"
check_error "truncated .h5" 1 "trunc.h5: " "$O" "$IMP" "$T/trunc.h5" -o "$O"
$PY -c "
import random; random.seed(9)
open('$T/rand.h5', 'wb').write(b'\x89HDF\r\n\x1a\n' + bytes(random.randrange(256) for _ in range(3000)))"
check_error "random bytes after an HDF5 signature" 1 "rand.h5: " "$O" "$IMP" "$T/rand.h5" -o "$O"
h5edit() {   # h5edit NAME PYTHON-EDIT-OF-f (h5py File opened r+), cfg = parsed model_config
    cp "$K/func.h5" "$T/$1.h5"
    $PY -c "
import h5py, json, sys
f = h5py.File(sys.argv[1], 'r+')
cfg = json.loads(f.attrs['model_config'])
byname = {l['name']: l for l in cfg['config']['layers']}
$2
f.close()" "$T/$1.h5"
}
h5edit nocfg "del f.attrs['model_config']"
check_error ".h5 with weights only" 1 "without the model's architecture" "$O" "$IMP" "$T/nocfg.h5" -o "$O"
h5edit badjson "f.attrs['model_config'] = b'{\"class_name\": '"
check_error ".h5 with broken model_config JSON" 1 "model_config is not valid JSON" "$O" "$IMP" "$T/badjson.h5" -o "$O"
h5edit noweight "del f['model_weights/conv_a/conv_a/kernel:0']"
check_error ".h5 missing a weight" 1 "layer 'conv_a' \(Conv2D\): no weight 'kernel'" "$O" "$IMP" "$T/noweight.h5" -o "$O"
h5edit big "
byname['dense_j']['config']['units'] = 8388608
f.attrs['model_config'] = json.dumps(cfg).encode()
del f['model_weights/dense_j/dense_j/kernel:0']
f['model_weights/dense_j/dense_j'].create_dataset('kernel:0', shape=(64, 8388608), dtype='f4')"
check_error ".h5 dataset claiming 2 GB in a small file" 1 "claims 2147[0-9]+ bytes but the file stores 0" "$O" "$IMP" "$T/big.h5" -o "$O"
h5edit strw "del f['model_weights/conv_a/conv_a/bias:0']; f['model_weights/conv_a/conv_a/bias:0'] = [b'a', b'b', b'c', b'd']"
check_error ".h5 weight of strings" 1 "not numeric" "$O" "$IMP" "$T/strw.h5" -o "$O"
# Found by fuzzing: one byte in the global heap that holds model_config
# makes libhdf5 1.10 read out of bounds; cnn-import turns the crash into the
# usual error (not under AddressSanitizer, which reports it in libhdf5).
if [ -n "${CNN_ASAN:-}" ]; then
    skip "corrupt HDF5 global heap (fuzzing find)" "libhdf5 itself overflows under ASan"
else
    $PY -c "
b = bytearray(open('$K/func.h5', 'rb').read()); b[2076] = 190
open('$T/heap.h5', 'wb').write(b)"
    check_error "corrupt HDF5 global heap (fuzzing find)" 1 "heap.h5: " "$O" "$IMP" "$T/heap.h5" -o "$O"
fi

# ---- ONNX goes to its own importer (message may change when it exists)
printf '\010\007\022\004test' >"$T/x.onnx"
check_error "ONNX bytes reach the ONNX path" 1 "x\.onnx: " "$O" "$IMP" "$T/x.onnx" -o "$O"
