#!/bin/sh
# The bad-input corpus (tests/bad/gen.py makes the files): every tool on
# every kind of broken input, output path and option value. For each case:
# the exit status (1, or 2 for a usage error), exactly one line on stderr
# (besides usage errors' "Try --help") that names the tool and, where there
# is one, the file, no control byte in it, no output file and no temporary
# left, and every input unchanged (sha256). Then the outputs' guarantees:
# a full disk, SIGKILL while writing, two writers of one file, an upstream
# that dies, a FIFO, a character device, /dev/stdout, stale temporaries.
. "$(dirname "$0")/../lib.sh"

C=$T/corpus W=$T/w
mkdir -p "$W"
if ! $PY "$TOP/tests/bad/gen.py" "$C" >"$T/gen.txt" 2>&1; then
    fail "the corpus is generated" "$(tail -c 400 "$T/gen.txt")"; exit 0
fi
cd "$C" || exit 1
mkdir adir emptydir
cnn-forward -q -m m.h5 -l conv1 im.h5 -o acts.h5 &&
cnn-extract-layer -q -l conv1 acts.h5 -o feats.h5 || { fail "valid fixtures"; exit 0; }
ln -s im.h5 link.h5
esc=$(printf 'bad\033[2J\007name.h5')
sha256sum -- *.h5 *.png *.onnx >"$T/sums" 2>/dev/null

# bad_case WHAT RC NAME CMD (a string eval'ed with $IN $M $O set): RC 1, 2
# or 12 (either); NAME a fixed string the one line must hold ("" none).
bad_case() {
    what=$1 want=$2 name=$3 _cmd=$4
    rm -rf "$W"; mkdir "$W"
    eval "timeout 120 $_cmd" >"$W/.out" 2>"$W/.err" </dev/null
    got=$?
    tool=${_cmd%% *}
    lines=$(grep -cv "^Try '.* --help'" "$W/.err")
    first=$(head -n 1 "$W/.err")
    left=$(cd "$W" && ls -A | grep -v '^\.out$\|^\.err$'; ls -A "$C" | grep '\.tmp\.')
    case $want in 12) [ "$got" -eq 1 ] || [ "$got" -eq 2 ] && want=$got ;; esac
    if [ "$got" -ne "$want" ]; then fail "$what" "exit $got, want $want: $(head -c 300 "$W/.err")"
    elif [ "$lines" -ne 1 ]; then fail "$what" "stderr has $lines lines: $(head -c 400 "$W/.err")"
    elif [ "${first#"$tool: "}" = "$first" ]; then fail "$what" "does not name $tool: $first"
    elif [ -n "$name" ] && ! grep -qF -- "$name" "$W/.err"; then fail "$what" "does not name $name: $first"
    elif LC_ALL=C grep -q '[[:cntrl:]]' "$W/.err"; then fail "$what" "control bytes on stderr"
    elif [ -n "$left" ]; then fail "$what" "left $left"
    elif ! sha256sum --quiet -c "$T/sums" >/dev/null 2>&1; then fail "$what" "an input changed"; left=1
    else pass "$what"; fi
    if [ -n "$left" ]; then
        # put the corpus back for the next cases
        rm -f "$C"/*.tmp.*; $PY "$TOP/tests/bad/gen.py" "$C" >/dev/null 2>&1
        sha256sum -- *.h5 *.png *.onnx >"$T/sums" 2>/dev/null
    fi
}

# Each tool: its command with $IN (the input under test) and $M (a model),
# writing $O; its valid input; which broken inputs apply.
H5BAD="missing.h5 empty.h5 random.h5 trunc.h5 text.h5 adir nokind.h5 wrongkind.h5 badkind.h5"
IMBAD="badlab.h5 badimg.h5 shape2d.h5 strimg.h5"
MBAD="missing.h5 empty.h5 random.h5 trunc.h5 text.h5 adir nokind.h5 im.h5 badkind.h5 m_nonodes.h5 m_badop.h5 m_classes.h5 m_badw.h5 m_wshape.h5 m_cycle.h5"

tools="images train import info forward extract-layer pca topk occlude saliency patches ascend perturb style join render"
for t in $tools; do
    O=$W/out.h5 in=im.h5 model= bad="$H5BAD $IMBAD" layer=
    case $t in
    images) cmd='cnn-images -q "$IN" -o "$O"'; bad="${H5BAD% nokind.h5*} wrongkind.h5 badkind.h5 badlab.h5 badimg.h5 shape2d.h5 strimg.h5 fake.png trunc.png emptydir" ;;
    train) cmd='cnn-train -q --epochs 0 -a c1=conv4k3,r1=relu,fl=flatten,fc=dense "$IN" -o "$O"' ;;
    import) cmd='cnn-import "$IN" -o "$O"'; in=tiny.onnx; bad="missing.h5 empty.h5 random.h5 text.h5 trunc.onnx adir im.h5 fake.png" ;;
    info) cmd='cnn-info "$IN"'; O=; bad="${H5BAD% wrongkind.h5*} badkind.h5 badlab.h5 badimg.h5 m_nonodes.h5 m_badop.h5 m_classes.h5 m_badw.h5 m_cycle.h5" ;;
    forward) cmd='cnn-forward -q -m "$M" "$IN" -o "$O"'; model=1; layer='-l nosuch'; bad="$bad chan1.h5" ;;
    extract-layer) cmd='cnn-extract-layer -q -l conv1 "$IN" -o "$O"'; in=acts.h5; layer='-l nosuch'; bad="$H5BAD badlab.h5" ;;
    pca) cmd='cnn-pca -q -k 2 "$IN" -o "$O"'; in=feats.h5; bad="$H5BAD im.h5 shape2d.h5" ;;
    topk) cmd='cnn-topk -q -k 2 "$IN" -o "$O"'; in=feats.h5; bad="$H5BAD im.h5" ;;
    occlude) cmd='cnn-occlude -q -m "$M" "$IN" -o "$O"'; model=1; bad="$bad chan1.h5" ;;
    saliency) cmd='cnn-saliency -q -m "$M" -t class=1 "$IN" -o "$O"'; model=1; bad="$bad chan1.h5" ;;
    patches) cmd='cnn-patches -q -m "$M" -l conv1 -k 2 "$IN" -o "$O"'; model=1; layer='-l nosuch'; bad="$bad chan1.h5" ;;
    ascend) cmd='cnn-ascend -q -m "$M" -t class=1 --steps 2 --start "$IN" -o "$O"'; model=1; bad="$H5BAD badimg.h5 shape2d.h5 strimg.h5 chan1.h5" ;;
    perturb) cmd='cnn-perturb shuffle -q --tiles 2x2 "$IN" -o "$O"' ;;
    style) cmd='cnn-style -q -m "$M" --content "$IN" --style im.h5 --content-layer relu1 --style-layers relu1 --steps 1 -o "$O"'; model=1; bad="$H5BAD badimg.h5 shape2d.h5 strimg.h5 chan1.h5" ;;
    join) cmd='cnn-join -q -o "$O" "$IN" im.h5'; bad="$H5BAD badlab.h5 badimg.h5 strimg.h5" ;;
    render) cmd='cnn-render grid "$IN" -o "$O"'; O=$W/out.png; bad="${H5BAD% nokind.h5*} wrongkind.h5 badkind.h5 badimg.h5 shape2d.h5 strimg.h5" ;;
    esac
    M=m.h5
    for b in $bad; do
        IN=$b bad_case "cnn-$t: input $b" 1 "$b" "$cmd"
    done
    IN=$esc bad_case "cnn-$t: a missing input named with control bytes" 1 "name.h5" "$cmd"
    IN=$in
    if [ -n "$model" ]; then
        for b in $MBAD; do
            M=$b bad_case "cnn-$t: model $b" 1 "$b" "$cmd"
        done
        M=m.h5
    fi
    bad_case "cnn-$t: unknown option" 2 "--no-such-option" "$cmd --no-such-option"
    [ -n "$layer" ] && bad_case "cnn-$t: unknown layer" 1 "nosuch" "$cmd $layer"
    [ $t = info ] && continue
    for opt in "--batch 0" "--batch x" "--range 5:2" "--threads -1" "--seed -3"; do
        bad_case "cnn-$t: $opt" 2 "${opt%% *}" "$cmd $opt"
    done
    keep=$O
    O=$C/adir bad_case "cnn-$t: -o a directory" 1 "adir" "$cmd"
    O= bad_case "cnn-$t: -o ''" 2 "-o" "$cmd"
    O=$C/nodir/x.h5 bad_case "cnn-$t: -o in a missing folder" 1 "nodir" "$cmd"
    O=$C/$in bad_case "cnn-$t: -o the input" 1 "$in" "$cmd"
    [ "$in" = im.h5 ] && O=$C/link.h5 bad_case "cnn-$t: -o a symlink to the input" 1 "link.h5" "$cmd"
    O=$keep
done
