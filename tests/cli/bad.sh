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
cnn-extract-layer -q -l conv1 acts.h5 -o feats.h5 &&
cnn-forward -q -m m.h5 -l conv1 big.h5 -o bigacts.h5 &&
cnn-extract-layer -q -l conv1 bigacts.h5 -o bigfeats.h5 &&
cnn-occlude -q -m m.h5 -w 2 --per-pixel im.h5 -o maps.h5 || { fail "valid fixtures"; exit 0; }
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

tools="${BAD_TOOLS-images train import info forward extract-layer pca topk occlude saliency evaluate patches ascend perturb style join render}"   # BAD_TOOLS= runs only the part below
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
    evaluate) cmd='cnn-evaluate -q -m "$M" --maps maps.h5 --metric deletion --steps 4 "$IN" -o "$O"'; model=1; bad="$bad chan1.h5" ;;
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

# ---- what outputs guarantee ----------------------------------------------

rows() { cnn-info --rows "$1" 2>/dev/null; }
cd "$C" || exit 1
rm -rf "$W"; mkdir "$W"

# A full disk: a 4 KiB tmpfs in a private mount namespace (root), else a
# file size limit (ulimit -f, SIGXFSZ ignored).
FULL='cnn-forward -q -m m.h5 -l conv1 big.h5 -o "$D/o.h5"
cnn-images -q big.h5 -o "$D/o.h5"
cnn-perturb shuffle -q --tiles 2x2 big.h5 -o "$D/o.h5"
cnn-saliency -q -m m.h5 -t class=1 big.h5 -o "$D/o.h5"
cnn-occlude -q -m m.h5 --range 0:40 big.h5 -o "$D/o.h5"
cnn-join -q -o "$D/o.h5" big.h5 big.h5
cnn-extract-layer -q -l images big.h5 -o "$D/o.h5"
cnn-topk -q -k 40 --unit 0 --gather big.h5 bigfeats.h5 -o "$D/o.h5"
cnn-import tiny.onnx -o "$D/o.h5"
cnn-train -q --epochs 0 -a c1=conv32k3,fl=flatten,fc=dense big.h5 -o "$D/o.h5"
cnn-ascend -q -m m.h5 -t class=1 --steps 2 --snapshots 1 -o "$D/o.h5"
cnn-render grid -q big.h5 -o "$D/o.png"
cnn-patches -q -m m.h5 -l conv1 -k 40 big.h5 -o "$D/o.h5"'
if unshare -m true 2>/dev/null && unshare -m sh -c "mount -t tmpfs -o size=4k tmpfs '$W'" 2>/dev/null; then
    how=tmpfs
else
    how=ulimit
fi
while IFS= read -r line; do
    tool=${line%% *}
    rm -rf "$W"; mkdir "$W"
    if [ $how = tmpfs ]; then
        D=$W/disk; mkdir "$D"
        unshare -m sh -c "mount -t tmpfs -o size=4k tmpfs '$D' || exit 99; cd '$C'; D='$D'; $line 2>'$W/err'; echo \$? >'$W/rc'; ls -A '$D' >'$W/left'"
    else
        D=$W
        (ulimit -f 4; trap '' XFSZ; eval "$line" 2>"$W/err"; echo $? >"$W/rc"); ls -A "$D" | grep -v '^err$\|^rc$' >"$W/left"
    fi
    rc=$(cat "$W/rc" 2>/dev/null)
    if [ "$rc" != 1 ]; then fail "full disk ($how): $tool exits 1" "exit $rc: $(head -c 300 "$W/err")"
    elif [ "$(wc -l <"$W/err")" -ne 1 ] || ! grep -q "^$tool: " "$W/err"; then fail "full disk ($how): $tool says one line" "$(head -c 300 "$W/err")"
    elif [ -s "$W/left" ]; then fail "full disk ($how): $tool leaves nothing" "$(cat "$W/left")"
    else pass "full disk ($how): $tool exits 1, one line, nothing left"; fi
done <<EOF_FULL
$FULL
EOF_FULL

# SIGKILL and SIGTERM while writing: never a partial output; the next run
# removes the dead run's temporary.
rm -rf "$W"; mkdir "$W"
partial=
for d in 0.01 0.03 0.06 0.1 0.15 0.2 0.3; do
    cnn-forward -q -m m.h5 -l conv1 big.h5 -o "$W/k.h5" & pid=$!
    sleep $d; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
    if [ -e "$W/k.h5" ] && [ "$(rows "$W/k.h5")" != 400 ]; then partial="$partial $d"; fi
    rm -f "$W/k.h5"
done
if [ -z "$partial" ]; then pass "SIGKILL while writing leaves no partial output"
else fail "SIGKILL while writing leaves no partial output" "partial after$partial s"; fi
cnn-forward -q -m m.h5 -l conv1 big.h5 -o "$W/k.h5" & pid=$!
sleep 0.05; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
cnn-forward -q -m m.h5 -l conv1 big.h5 -o "$W/k.h5"
if [ "$(rows "$W/k.h5")" = 400 ] && ! ls "$W" | grep -q '\.tmp\.'; then pass "the run after a SIGKILL succeeds and removes the stale temporary"
else fail "the run after a SIGKILL succeeds and removes the stale temporary" "$(ls "$W")"; fi
rm -f "$W"/*
for d in 0.02 0.08; do
    cnn-forward -q -m m.h5 -l conv1 big.h5 -o "$W/t.h5" & pid=$!
    sleep $d; kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null
    if [ -e "$W/t.h5" ] && [ "$(rows "$W/t.h5")" != 400 ]; then fail "SIGTERM after ${d}s: no partial output"
    elif ls "$W" | grep -q '\.tmp\.'; then fail "SIGTERM after ${d}s: the temporary is removed" "$(ls "$W")"
    else pass "SIGTERM after ${d}s: no partial output, no temporary"; fi
    rm -f "$W"/*
done

# Stale temporaries: a dead process's is removed, a live one's is kept.
sh -c 'exit 0' & dead=$!; wait $dead
: >"$W/s.h5.tmp.$dead"; : >"$W/s.h5.tmp.$$"
cnn-forward -q -m m.h5 im.h5 -o "$W/s.h5"
if [ "$(rows "$W/s.h5")" = 6 ] && [ ! -e "$W/s.h5.tmp.$dead" ] && [ -e "$W/s.h5.tmp.$$" ]; then
    pass "a dead process's temporary is removed, a live one's kept"
else fail "a dead process's temporary is removed, a live one's kept" "$(ls "$W")"; fi
rm -f "$W"/*

# Two writers of one file: both succeed, the file is one of them, whole.
cnn-forward -q -m m.h5 -l conv1 big.h5 -o "$W/same.h5" & p1=$!
cnn-forward -q -m m.h5 -l conv1 big.h5 -o "$W/same.h5" & p2=$!
wait $p1; r1=$?; wait $p2; r2=$?
if [ $r1 -eq 0 ] && [ $r2 -eq 0 ] && [ "$(rows "$W/same.h5")" = 400 ] && [ "$(ls "$W")" = same.h5 ]; then
    pass "two writers of one -o: one whole file"
else fail "two writers of one -o: one whole file" "rc $r1 $r2: $(ls "$W")"; fi
rm -f "$W"/*

# An upstream that dies mid-pipe.
(head -c 3000 big.h5; exit 1) | cnn-forward -q -m m.h5 -o "$W/p.h5" 2>"$W/.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$W/.err")" -eq 1 ] && grep -q '^cnn-forward: <stdin>' "$W/.err" && [ ! -e "$W/p.h5" ]; then
    pass "an upstream that dies mid-pipe: one line, no output"
else fail "an upstream that dies mid-pipe: one line, no output" "rc $rc: $(cat "$W/.err")"; fi
cnn-forward -q -m m_badop.h5 im.h5 2>/dev/null | cnn-extract-layer -q -l conv1 -o "$W/p.h5" 2>"$W/.err"
rc=$?
if [ $rc -eq 1 ] && [ "$(wc -l <"$W/.err")" -eq 1 ] && [ ! -e "$W/p.h5" ]; then
    pass "a failed upstream tool: the next one exits 1, one line, no output"
else fail "a failed upstream tool: the next one exits 1, one line, no output" "rc $rc: $(cat "$W/.err")"; fi
rm -f "$W"/*

# A FIFO is written in place (its reader gets the file) and stays a FIFO.
mkfifo "$W/fifo.h5" "$W/fifo.png"
cat "$W/fifo.h5" >"$W/got.h5" & cp=$!
cnn-forward -q -m m.h5 im.h5 -o "$W/fifo.h5"; rc=$?; wait $cp
if [ $rc -eq 0 ] && [ -p "$W/fifo.h5" ] && [ "$(rows "$W/got.h5")" = 6 ]; then pass "-o FIFO: the reader gets the HDF5 file"
else fail "-o FIFO: the reader gets the HDF5 file" "rc $rc"; fi
cat "$W/fifo.png" >"$W/got.png" & cp=$!
cnn-render grid -q im.h5 -o "$W/fifo.png"; rc=$?; wait $cp
if [ $rc -eq 0 ] && [ -p "$W/fifo.png" ] && [ "$(head -c 4 "$W/got.png" | tail -c 3)" = PNG ]; then pass "-o FIFO: the reader gets the PNG"
else fail "-o FIFO: the reader gets the PNG" "rc $rc"; fi
rm -f "$W"/*

# /dev/stdout (a pipe here) and a symlink to a file that does not exist yet.
cnn-forward -q -m m.h5 im.h5 -o /dev/stdout | cat >"$W/so.h5"
if [ "$(rows "$W/so.h5")" = 6 ]; then pass "-o /dev/stdout into a pipe"; else fail "-o /dev/stdout into a pipe"; fi
ln -s real.h5 "$W/ln.h5"
cnn-forward -q -m m.h5 im.h5 -o "$W/ln.h5"
if [ -L "$W/ln.h5" ] && [ "$(rows "$W/real.h5")" = 6 ]; then pass "-o a symlink: its target is written, the link stays"
else fail "-o a symlink: its target is written, the link stays" "$(ls -l "$W")"; fi
rm -f "$W"/*

# A character device, in a private mount namespace: /dev/null replaced by a
# bind-mounted node of our own, so a regression cannot touch the system's.
if unshare -m true 2>/dev/null && mknod "$T/null" c 1 3 2>/dev/null; then
    unshare -m sh -c "mount --bind '$T/null' /dev/null || exit 99
        cnn-forward -q -m m.h5 im.h5 -o /dev/null || exit 1
        cnn-render grid -q im.h5 -o /dev/null || exit 2
        [ -c /dev/null ] || exit 3
        ls /dev/null.tmp.* >/dev/null 2>&1 && exit 4; exit 0"
    rc=$?
    if [ $rc -eq 99 ]; then skip "-o /dev/null: written in place, stays a character device" "cannot bind-mount"
    elif [ $rc -eq 0 ] && [ -c "$T/null" ]; then pass "-o /dev/null: written in place, stays a character device"
    else fail "-o /dev/null: written in place, stays a character device" "step $rc"; fi
else
    skip "-o /dev/null: written in place, stays a character device" "no private mount namespace"
fi
