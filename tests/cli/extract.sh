#!/bin/sh
# cnn-extract-layer: flattening, per-map summaries and channel selection
# against numpy; ids/labels/classes carried; pipes; bad input.
. "$(dirname "$0")/../lib.sh"
A=$TOP/tests/cli/analysis.py

$PY "$A" acts "$T/acts.h5" 40 || exit 1
for s in none max mean absmax; do
    check "extract conv --summary $s" cnn-extract-layer -q -l conv --summary $s -o "$T/f_$s.h5" "$T/acts.h5"
    check_py "extract conv --summary $s matches numpy" "$A" extract "$T/acts.h5" conv $s - "$T/f_$s.h5"
done
check "extract --channels 3,1" cnn-extract-layer -l conv --channels 3,1 --summary mean -o "$T/f_ch.h5" "$T/acts.h5"
check_py "channel selection keeps the order given" "$A" extract "$T/acts.h5" conv mean 3,1 "$T/f_ch.h5"
check "extract fc (N x D) ignores the summary" cnn-extract-layer -l fc --summary max -o "$T/f_fc.h5" "$T/acts.h5"
check_py "fc matches numpy" "$A" extract "$T/acts.h5" fc none - "$T/f_fc.h5"
check "extract probs" cnn-extract-layer -l probs -o "$T/f_p.h5" "$T/acts.h5"
check_py "probs match" "$A" extract "$T/acts.h5" probs none - "$T/f_p.h5"
check "extract from a pipe" sh -c "cat '$T/acts.h5' | cnn-extract-layer -l conv --summary max --batch 7 > '$T/f_pipe.h5'"
check_py "piped, small batches: same values" "$A" extract "$T/acts.h5" conv max - "$T/f_pipe.h5"
check "--range 5:9" cnn-extract-layer -l fc --range 5:9 -o "$T/f_r.h5" "$T/acts.h5"
check_py "--range rows and ids" -c "
import h5py, numpy as np
a = h5py.File('$T/acts.h5'); f = h5py.File('$T/f_r.h5')
assert np.array_equal(f['features'][...], a['act/fc'][5:9])
assert np.array_equal(f['ids'][...], a['ids'][5:9])
assert np.array_equal(f['pred'][...], a['pred'][5:9])
assert f.attrs['layer'] == 'fc' and list(f.attrs['shape']) == [7, 1, 1]"

$PY -c "
import h5py, numpy as np
f = h5py.File('$T/img.h5', 'w'); f.attrs['kind'] = 'images'
f['images'] = np.random.default_rng(1).random((6, 3, 4, 5)).astype(np.float32); f['ids'] = np.arange(6)"
check "an images file's pixels (-l images)" cnn-extract-layer -l images -o "$T/f_img.h5" "$T/img.h5"
check_py "pixels flattened" -c "
import h5py, numpy as np
a = h5py.File('$T/img.h5'); f = h5py.File('$T/f_img.h5')
assert np.array_equal(f['features'][...], a['images'][...].reshape(6, -1))"
check_error "an images file has no conv layer" 1 "only the layer 'images'" "$T/bad0.h5" \
    cnn-extract-layer -l conv1 -o "$T/bad0.h5" "$T/img.h5"

# Bad input: one line, exit status, no output left behind.
check_error "unknown layer lists the layers" 1 "no layer 'conv9' \(layers: conv fc logits probs\)" "$T/bad1.h5" \
    cnn-extract-layer -l conv9 -o "$T/bad1.h5" "$T/acts.h5"
check_error "channel out of range" 2 "channels" "$T/bad2.h5" \
    cnn-extract-layer -l conv -c 4 -o "$T/bad2.h5" "$T/acts.h5"
check_error "unknown summary" 2 "summary" "" cnn-extract-layer -l conv --summary median "$T/acts.h5"
check_error "no layer given" 2 "layer" "" cnn-extract-layer "$T/acts.h5"
$PY -c "
import h5py; f = h5py.File('$T/ranking.h5', 'w'); f.attrs['kind'] = 'ranking'; f['unit'] = [0]"
check_error "wrong kind" 1 "is a ranking file \(expected activations,images\)" "$T/bad3.h5" \
    cnn-extract-layer -l conv -o "$T/bad3.h5" "$T/ranking.h5"
: >"$T/empty.h5"
check_error "empty input" 1 "empty" "$T/bad4.h5" cnn-extract-layer -l conv -o "$T/bad4.h5" "$T/empty.h5"
check_error "--weights without a model" 2 "model" "" cnn-extract-layer --weights -l conv1

# --weights against h5py's reading of a model file written as
# docs/model-format.md shows.
$PY "$TOP/tests/cli/model_fixture.py" "$T/model.h5" || exit 1
check "extract --weights conv1" cnn-extract-layer --weights -m "$T/model.h5" -l conv1 -o "$T/w.h5"
check_py "conv1 kernels (5 x 3 x 3 x 3) and bias match the model file" \
    "$TOP/tests/cli/model_fixture.py" check "$T/model.h5" conv1 "$T/w.h5"
check "extract --weights fc (dense)" cnn-extract-layer --weights -m "$T/model.h5" -l fc -o "$T/wfc.h5"
check_py "dense weights as Dout x 1 x 1 x Din" "$TOP/tests/cli/model_fixture.py" check "$T/model.h5" fc "$T/wfc.h5"
check_error "--weights of a layer without weights" 1 "'relu1' \(ReLU\) has no weights" "$T/w2.h5" \
    cnn-extract-layer --weights -m "$T/model.h5" -l relu1 -o "$T/w2.h5"
check_error "--weights of an unknown layer lists the layers" 1 "no layer 'conv9'.*conv1" "$T/w3.h5" \
    cnn-extract-layer --weights -m "$T/model.h5" -l conv9 -o "$T/w3.h5"

# One layer lookup for every tool (base/names.h): exact, else ignoring case,
# else a module's last node.
check "--weights -l CONV1 finds conv1 (case ignored)" \
    cnn-extract-layer --weights -m "$T/model.h5" -l CONV1 -o "$T/wcase.h5"
check_py "the same kernels as -l conv1" -c "
import h5py, numpy as np
a = h5py.File('$T/w.h5'); b = h5py.File('$T/wcase.h5')
assert np.array_equal(a['images'][...], b['images'][...]) and b.attrs['layer'] == 'conv1'"
check "an activations file's -l FC finds fc" cnn-extract-layer -l FC -o "$T/f_case.h5" "$T/acts.h5"
check_py "the same features as -l fc" -c "
import h5py, numpy as np
a = h5py.File('$T/f_fc.h5'); b = h5py.File('$T/f_case.h5')
assert np.array_equal(a['features'][...], b['features'][...])"
$PY -c "
import h5py, numpy as np
a = h5py.File('$T/acts.h5'); f = h5py.File('$T/mod.h5', 'w')
for k, v in a.attrs.items(): f.attrs[k] = v
for k in ('ids', 'pred'): f[k] = a[k][...]
f['act/layer4.0.conv'] = a['act/conv'][...] * 0; f['act/layer4.1.fc'] = a['act/fc'][...]"
check "-l layer4 finds the module's last layer (layer4.1.fc)" \
    cnn-extract-layer -l layer4 -o "$T/f_mod.h5" "$T/mod.h5"
check_py "its features are layer4.1.fc's" -c "
import h5py, numpy as np
a = h5py.File('$T/f_fc.h5'); b = h5py.File('$T/f_mod.h5')
assert np.array_equal(a['features'][...], b['features'][...])"
check_py "the layer attribute names the layer found" -c "
import h5py
assert h5py.File('$T/f_mod.h5').attrs['layer'] == 'layer4.1.fc'
assert h5py.File('$T/f_case.h5').attrs['layer'] == 'fc'"
