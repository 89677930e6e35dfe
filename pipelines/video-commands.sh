#!/bin/sh
# video-commands.sh: prints the commands that make the demo's DeepVis clip
# ($OUT/video/deepvis.mp4) from data/ alone, one per line, runnable as they
# stand (sh -e, the cnntools on PATH, from the repository root): the lines
# after the caption of deepvis.mp4.txt, which the page shows and
# pipelines/rerun-report.sh re-runs. pipelines/video.mk calls it with its
# settings in the environment: OUT VS DATA SRC_MODEL MODEL LAYER METHOD
# SIZE DATASET JOBS CHUNK BATCH RENDER RATE FRAMES FFMPEG FINDING VIDEO_IN
# VIDEO_FC.
set -eu
cat <<END
mkdir -p $(dirname "$MODEL") $VS/frames $VS/render
cnn-import -q $SRC_MODEL -o $MODEL
$FFMPEG -y $VIDEO_IN -filter_complex "$VIDEO_FC" -frames:v $FRAMES -r $RATE -c:v libx264 -pix_fmt yuv420p -f mp4 $OUT/video/sample-src.mp4
$FFMPEG -i $OUT/video/sample-src.mp4 -map 0:v:0 -fps_mode passthrough -f image2 $VS/frames/%06d.png
cnn-images -q --size $SIZE --crop center --rgb $VS/frames -o $VS/frames.h5
cnn-forward -q --threads $JOBS --batch $BATCH -m $MODEL -l $LAYER $VS/frames.h5 -o $VS/acts.h5
$FINDING pick-unit $VS/acts.h5 >$VS/unit.txt
cnn-saliency -q --threads $JOBS --batch $BATCH -m $MODEL -M $METHOD -t unit=$LAYER:\$(cat $VS/unit.txt) $VS/frames.h5 -o $VS/unit.h5
cnn-patches -q --threads $JOBS -m $MODEL -l $LAYER -k 9 -c \$(cat $VS/unit.txt) $DATASET -o $VS/patches.h5
n=\$(cnn-info --rows $VS/acts.h5) && seq 0 $CHUNK \$((n - 1)) | awk '{ print \$1, \$1 + $CHUNK }' | parallel --will-cite -j $JOBS --colsep ' ' --halt now,fail=1 cnn-render activations -q -l $LAYER --label frame $RENDER --images $VS/frames.h5 --unit \$(cat $VS/unit.txt) --projection $VS/unit.h5 --patches $VS/patches.h5 --range {1}:{2} -o $VS/render/%06d.png $VS/acts.h5
$FFMPEG -y -framerate $RATE -start_number 0 -i $VS/render/%06d.png -vf 'pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white' -c:v libx264 -pix_fmt yuv420p -f mp4 $OUT/video/sample.mp4
cp $OUT/video/sample.mp4 $OUT/video/deepvis.mp4
$FINDING video $VS/acts.h5 \$(cat $VS/unit.txt)
END
