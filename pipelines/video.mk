# Video (issue 10): the Deep Visualization Toolbox view, frame by frame.
#
#   make -f pipelines/demo.mk video VIDEO=clip.mp4 [VIDEO_LAYER=L VIDEO_UNIT=C]
#
# ffmpeg extracts every frame of VIDEO (order and count kept: no frame is
# dropped or duplicated), cnn-images scales them to the model's input
# (VIDEO_SIZE, centre crop), cnn-forward keeps VIDEO_LAYER's activations in
# batches, cnn-saliency projects unit VIDEO_UNIT back to the pixels of each
# frame (VIDEO_METHOD: guided backprop or deconvnet), cnn-patches finds the
# unit's top 9 patches over VIDEO_DATASET, GNU Parallel renders the frames
# (cnn-render activations, VIDEO_JOBS at once, VIDEO_CHUNK frames a job),
# and ffmpeg assembles them at the clip's own frame rate into
#   $(OUT)/video/NAME.mp4   H.264, every frame, the input's rate
#   $(OUT)/video/NAME.gif   for web pages: VIDEO_GIF_FPS frames a second,
#                           VIDEO_GIF_WIDTH pixels wide
# The view shows each frame as the model sees it: a 224x224 clip keeps its
# size; any other is centre-cropped and scaled to VIDEO_SIZE.
# NAME is VIDEO's file name without its extension (no spaces); the work
# files are in $(OUT)/video/NAME/. A video ffmpeg cannot read, one without
# a video stream, or one with no frames stops with one line saying so and
# leaves no output.
#
# VIDEO_UNIT=auto (the default) picks the unit from the clip's activations
# (pipelines/finding.py pick-unit: among the maps whose peak is in the
# layer's upper half, the one whose per-frame maximum varies most), so the
# unit shown changes with the content; $(OUT)/video/NAME/unit.txt holds it.
#
# The demo (pipelines/demo.mk, when the pretrained Tiny Darknet exists)
# makes a sample clip in which the content changes: VIDEO_PHOTOS side by
# side, a window panned across them (easing from one photo to the next) by
# ffmpeg; and the report's
# figures $(OUT)/video/deepvis.mp4 (the DeepVis view of every frame, H.264)
# and $(OUT)/video/deepvis.mp4.poster.png (its frame where the unit is
# strongest, also the video's poster).
ifeq ($(.DEFAULT_GOAL),)
.DEFAULT_GOAL := video
endif
BIN  ?= bin
OUT  ?= out
DATA ?= data/fetched
.DELETE_ON_ERROR:

VIDEO_SRC_MODEL ?= $(firstword $(wildcard $(DATA)/models) ../shared/models)/darknet-tiny
VIDEO_MODEL   ?= $(OUT)/models/darknet-tiny.h5
VIDEO_LAYER   ?= leaky_re_lu_10
VIDEO_UNIT    ?= auto
VIDEO_METHOD  ?= guided
VIDEO_SIZE    ?= 224x224
VIDEO_DATASET ?= $(DATA)/photos224.h5
VIDEO_JOBS    ?= 2
VIDEO_CHUNK   ?= 16
VIDEO_BATCH   ?= 32
VIDEO_GIF_FPS ?= 10
VIDEO_GIF_WIDTH ?= 480
VIDEO_RENDER  ?= --highlight
VIDEO_PHOTOS  ?= ml5_kitten.jpg coral_parrot.jpg ml5_bird.jpg coral_hot_dog.jpg coral_owl.jpg
VIDEO_SAMPLE_SECONDS ?= 4
VIDEO_SAMPLE_RATE ?= 25
FINDING ?= /usr/bin/python3 pipelines/finding.py
FFMPEG  ?= ffmpeg -nostdin -hide_banner -v error
FFPROBE ?= ffprobe -v error

# $(call caption,TEXT) as in pipelines/demo.mk, for use without it.
caption ?= @mkdir -p $(@D) && printf '%s\n' '$(strip $(1))' >$@.txt

# Standalone (make -f pipelines/video.mk): the model's import rule, which
# pipelines/imagenet.mk otherwise gives.
ifndef IMAGENET_DARKNET
$(OUT)/models/darknet-tiny.h5: $(VIDEO_SRC_MODEL)/model.json $(BIN)/cnn-import
	@mkdir -p $(@D)
	$(BIN)/cnn-import -q $(VIDEO_SRC_MODEL) -o $@
endif

# $(call video_rules,NAME,SOURCE): every step from SOURCE to NAME.mp4/.gif.
define video_rules
$(OUT)/video/$(1)/frames.h5: $(2) $(BIN)/cnn-images
	@rm -rf $(OUT)/video/.$(1).tmp && mkdir -p $(OUT)/video/.$(1).tmp/frames
	@$(FFMPEG) -i '$(2)' -map 0:v:0 -fps_mode passthrough -f image2 \
	    $(OUT)/video/.$(1).tmp/frames/%06d.png \
	  || { rm -rf $(OUT)/video/.$(1).tmp; \
	       echo "video: $(2): ffmpeg cannot read a video stream from it" >&2; exit 1; }
	@n=$$$$(ls $(OUT)/video/.$(1).tmp/frames | wc -l); [ "$$$$n" -gt 0 ] \
	  || { rm -rf $(OUT)/video/.$(1).tmp; echo "video: $(2): no frames" >&2; exit 1; }
	@$(FFPROBE) -select_streams v:0 -show_entries stream=r_frame_rate \
	    -of default=nw=1:nk=1 '$(2)' >$(OUT)/video/.$(1).tmp/rate
	$(BIN)/cnn-images -q --size $(VIDEO_SIZE) --crop center --rgb \
	    $(OUT)/video/.$(1).tmp/frames -o $(OUT)/video/.$(1).tmp/frames.h5 \
	  || { rm -rf $(OUT)/video/.$(1).tmp; exit 1; }
	@mkdir -p $$(@D) && mv $(OUT)/video/.$(1).tmp/rate $$(@D)/rate && \
	  mv $(OUT)/video/.$(1).tmp/frames.h5 $$@ && rm -rf $(OUT)/video/.$(1).tmp

$(OUT)/video/$(1)/acts.h5: $(OUT)/video/$(1)/frames.h5 $(VIDEO_MODEL) $(BIN)/cnn-forward
	$(BIN)/cnn-forward -q --threads $(VIDEO_JOBS) --batch $(VIDEO_BATCH) -m $(VIDEO_MODEL) \
	    -l $(VIDEO_LAYER) $$< -o $$@

# The unit shown: VIDEO_UNIT, or with auto the one that varies most.
$(OUT)/video/$(1)/unit.txt: $(OUT)/video/$(1)/acts.h5
	$(if $(filter auto,$(VIDEO_UNIT)),$(FINDING) pick-unit $$< >$$@.tmp,echo $(VIDEO_UNIT) >$$@.tmp)
	@mv $$@.tmp $$@

$(OUT)/video/$(1)/unit.h5: $(OUT)/video/$(1)/frames.h5 $(OUT)/video/$(1)/unit.txt $(VIDEO_MODEL) $(BIN)/cnn-saliency
	$(BIN)/cnn-saliency -q --threads $(VIDEO_JOBS) --batch $(VIDEO_BATCH) -m $(VIDEO_MODEL) \
	    -M $(VIDEO_METHOD) -t unit=$(VIDEO_LAYER):$$$$(cat $(OUT)/video/$(1)/unit.txt) $$< -o $$@

# The unit's top 9 patches over the dataset.
$(OUT)/video/$(1)/patches.h5: $(OUT)/video/$(1)/unit.txt $(VIDEO_DATASET) $(VIDEO_MODEL) $(BIN)/cnn-patches
	$(BIN)/cnn-patches -q --threads $(VIDEO_JOBS) -m $(VIDEO_MODEL) -l $(VIDEO_LAYER) -k 9 \
	    -c $$$$(cat $$<) $(VIDEO_DATASET) -o $$@

# One PNG per frame, named by frame number from 0; GNU Parallel shards.
$(OUT)/video/$(1)/render/.done: $(OUT)/video/$(1)/acts.h5 $(OUT)/video/$(1)/unit.h5 \
                                $(OUT)/video/$(1)/patches.h5 $(BIN)/cnn-render
	@rm -rf $(OUT)/video/$(1)/render.tmp && mkdir -p $(OUT)/video/$(1)/render.tmp
	n=$$$$($(BIN)/cnn-info --rows $(OUT)/video/$(1)/acts.h5) && \
	seq 0 $(VIDEO_CHUNK) $$$$((n - 1)) | awk '{ print $$$$1, $$$$1 + $(VIDEO_CHUNK) }' | \
	parallel --will-cite -j $(VIDEO_JOBS) --colsep ' ' --halt now,fail=1 \
	  $(BIN)/cnn-render activations -q -l $(VIDEO_LAYER) --label frame $(VIDEO_RENDER) \
	    --images $(OUT)/video/$(1)/frames.h5 --unit $$$$(cat $(OUT)/video/$(1)/unit.txt) \
	    --projection $(OUT)/video/$(1)/unit.h5 --patches $(OUT)/video/$(1)/patches.h5 \
	    --range {1}:{2} -o $(OUT)/video/$(1)/render.tmp/%06d.png \
	    $(OUT)/video/$(1)/acts.h5 \
	  || { rm -rf $(OUT)/video/$(1)/render.tmp; exit 1; }
	@touch $(OUT)/video/$(1)/render.tmp/.done
	@rm -rf $(OUT)/video/$(1)/render && mv $(OUT)/video/$(1)/render.tmp $(OUT)/video/$(1)/render

# Even sizes for yuv420p: a white column/row is added when needed.
$(OUT)/video/$(1).mp4: $(OUT)/video/$(1)/render/.done
	$(FFMPEG) -y -framerate $$$$(cat $(OUT)/video/$(1)/rate) -start_number 0 \
	    -i $(OUT)/video/$(1)/render/%06d.png \
	    -vf 'pad=ceil(iw/2)*2:ceil(ih/2)*2:color=white' -c:v libx264 -pix_fmt yuv420p \
	    -f mp4 $(OUT)/video/.$(1).mp4.tmp
	@mv $(OUT)/video/.$(1).mp4.tmp $$@

$(OUT)/video/$(1).gif: $(OUT)/video/$(1)/render/.done
	$(FFMPEG) -y -framerate $$$$(cat $(OUT)/video/$(1)/rate) -start_number 0 \
	    -i $(OUT)/video/$(1)/render/%06d.png \
	    -vf 'fps=$(VIDEO_GIF_FPS),scale=$(VIDEO_GIF_WIDTH):-1:flags=lanczos,split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse=dither=bayer' \
	    -f gif $(OUT)/video/.$(1).gif.tmp
	@mv $(OUT)/video/.$(1).gif.tmp $$@
endef

.PHONY: video
ifdef VIDEO
ifeq ($(wildcard $(VIDEO)),)
video:
	@echo "video: $(VIDEO): no such file" >&2; exit 1
else
VIDEO_NAME := $(basename $(notdir $(VIDEO)))
$(eval $(call video_rules,$(VIDEO_NAME),$(VIDEO)))
video: $(OUT)/video/$(VIDEO_NAME).mp4 $(OUT)/video/$(VIDEO_NAME).gif
endif
else
video:
	@echo "video: give the clip: make -f pipelines/demo.mk video VIDEO=clip.mp4" >&2; exit 2
endif

# The sample clip: VIDEO_PHOTOS (448x448 centre crops) side by side, a
# 448x448 window panned across them in VIDEO_SAMPLE_SECONDS (resting on
# each photo, easing between them: smoothstep of the fraction of the way),
# scaled to 224x224 at VIDEO_SAMPLE_RATE frames a second. No frame number
# is drawn in the picture (the view's title names the frame): units of
# leaky_re_lu_10 answer to the digits' edges, and the most varying one was
# a text detector on the counter.
video_n := $(words $(VIDEO_PHOTOS))
video_pan := st(0,min(t*$(video_n)/$(VIDEO_SAMPLE_SECONDS)-0.5,$(video_n)-1));st(0,max(ld(0),0));st(1,ld(0)-floor(ld(0)));448*(floor(ld(0))+ld(1)*ld(1)*(3-2*ld(1)))
video_in := $(foreach p,$(VIDEO_PHOTOS),-loop 1 -framerate $(VIDEO_SAMPLE_RATE) -t $(VIDEO_SAMPLE_SECONDS) -i $(DATA)/photos/$(p))
video_fc := $(foreach i,$(shell seq 0 $$(($(video_n) - 1))),[$(i):v]scale=448:448:force_original_aspect_ratio=increase,crop=448:448,setsar=1[v$(i)];)$(foreach i,$(shell seq 0 $$(($(video_n) - 1))),[v$(i)])hstack=inputs=$(video_n),crop=448:448:x='$(video_pan)':y=0,scale=224:224
$(OUT)/video/sample-src.mp4: $(addprefix $(DATA)/photos/,$(VIDEO_PHOTOS))
	@mkdir -p $(@D)
	$(FFMPEG) -y $(video_in) -filter_complex "$(video_fc)" \
	    -frames:v $$(($(VIDEO_SAMPLE_SECONDS) * $(VIDEO_SAMPLE_RATE))) -r $(VIDEO_SAMPLE_RATE) \
	    -c:v libx264 -pix_fmt yuv420p -f mp4 $(@D)/.sample-src.mp4.tmp
	@mv $(@D)/.sample-src.mp4.tmp $@
$(eval $(call video_rules,sample,$(OUT)/video/sample-src.mp4))

# Report figures (pipelines/report.def, section deepvis): the MP4 of the
# sample clip and its poster frame, with captions and findings.
VS := $(OUT)/video/sample
VIDEO_MP4_CAPTION = Tiny Darknet $(VIDEO_LAYER): all its feature maps for every frame of a \
  $(VIDEO_SAMPLE_SECONDS)-second clip in which the content changes ($(VIDEO_PHOTOS) side by \
  side$(comma) a window panned across them by ffmpeg; the frame number is in the title)$(comma) the \
  strongest map outlined in red; below$(comma) the unit that varies most over the clip (blue \
  outline): its map over the frame$(comma) its $(VIDEO_METHOD) backprop projection for the frame \
  and its top 9 patches over the sample photos. H.264 at $(VIDEO_SAMPLE_RATE) frames a second \
  (video/deepvis.mp4 beside this page).
comma := ,
# Its caption file: the caption and finding, then the commands that make
# the clip from data/ alone, runnable as they stand (pipelines/
# video-commands.sh; pipelines/rerun-report.sh re-runs them and compares
# the frames).
$(OUT)/video/deepvis.mp4: $(OUT)/video/sample.mp4 $(VS)/unit.txt $(VS)/acts.h5 pipelines/video-commands.sh
	@{ printf '%s ' '$(strip $(VIDEO_MP4_CAPTION))'; \
	   $(FINDING) video $(VS)/acts.h5 $$(cat $(VS)/unit.txt) || echo '(no finding: pipelines/finding.py video failed)'; } >$@.txt
	@OUT='$(OUT)' VS='$(VS)' SRC_MODEL='$(VIDEO_SRC_MODEL)' MODEL='$(VIDEO_MODEL)' \
	  LAYER='$(VIDEO_LAYER)' METHOD='$(VIDEO_METHOD)' SIZE='$(VIDEO_SIZE)' \
	  DATASET='$(VIDEO_DATASET)' JOBS='$(VIDEO_JOBS)' CHUNK='$(VIDEO_CHUNK)' \
	  BATCH='$(VIDEO_BATCH)' RENDER='$(VIDEO_RENDER)' RATE='$(VIDEO_SAMPLE_RATE)' \
	  FRAMES=$$(($(VIDEO_SAMPLE_SECONDS) * $(VIDEO_SAMPLE_RATE))) FFMPEG='$(FFMPEG)' \
	  FINDING='$(FINDING)' VIDEO_IN='$(video_in)' VIDEO_FC='$(subst ','\'',$(video_fc))' \
	  sh pipelines/video-commands.sh >>$@.txt
	cp $< $(@D)/.deepvis.mp4.tmp && mv $(@D)/.deepvis.mp4.tmp $@

# The poster: the rendered frame where the unit's maximum is largest.
$(OUT)/video/deepvis.mp4.poster.png: $(OUT)/video/sample.mp4 $(VS)/unit.txt $(VS)/acts.h5
	@u=$$(cat $(VS)/unit.txt) && f=$$($(FINDING) pick-frame $(VS)/acts.h5 $$u) && \
	 printf '%s\n' "The poster frame of the clip above (the Deep Visualization Toolbox view of one frame): frame $$f, where unit $$u of $(VIDEO_LAYER) is strongest." \
	   '$(FINDING) pick-frame $(VS)/acts.h5 $$(cat $(VS)/unit.txt)' \
	   'cp $(VS)/render/FRAME.png $@ (FRAME: that number, 6 digits)' >$@.txt && \
	 cp $(VS)/render/$$(printf %06d $$f).png $(@D)/.deepvis.mp4.poster.png.tmp
	@mv $(@D)/.deepvis.mp4.poster.png.tmp $@

# In the demo only with the pretrained model (else silently nothing).
ifneq ($(wildcard $(VIDEO_SRC_MODEL)/model.json),)
DEMO_TARGETS += $(OUT)/video/deepvis.mp4 $(OUT)/video/deepvis.mp4.poster.png
endif
