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
# The demo (pipelines/demo.mk, when the pretrained Tiny Darknet exists)
# makes a 3-second sample clip from a photo panned and zoomed by ffmpeg,
# with the frame number drawn in each frame, and the report's figures
# $(OUT)/video/activations.gif and $(OUT)/video/panel.png.
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
VIDEO_UNIT    ?= 245
VIDEO_METHOD  ?= guided
VIDEO_SIZE    ?= 224x224
VIDEO_DATASET ?= $(DATA)/photos224.h5
VIDEO_JOBS    ?= 2
VIDEO_CHUNK   ?= 16
VIDEO_BATCH   ?= 32
VIDEO_GIF_FPS ?= 10
VIDEO_GIF_WIDTH ?= 480
VIDEO_RENDER  ?= --highlight
VIDEO_PHOTO   ?= $(DATA)/photos/skimage_chelsea.png
VIDEO_SAMPLE_SECONDS ?= 3
FFMPEG  ?= ffmpeg -nostdin -hide_banner -v error
FFPROBE ?= ffprobe -v error
VIDEO_FONT ?= /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf

# $(call caption,TEXT) as in pipelines/demo.mk, for use without it.
caption ?= @mkdir -p $(@D) && printf '%s\n' '$(strip $(1))' >$@.txt

# Standalone (make -f pipelines/video.mk): the model's import rule, which
# pipelines/imagenet.mk otherwise gives.
ifndef IMAGENET_DARKNET
$(OUT)/models/darknet-tiny.h5: $(VIDEO_SRC_MODEL)/model.json $(BIN)/cnn-import
	@mkdir -p $(@D)
	$(BIN)/cnn-import -q $(VIDEO_SRC_MODEL) -o $@
endif

VIDEO_UNIT_H5 := $(OUT)/video/patches-$(VIDEO_LAYER)-$(VIDEO_UNIT).h5

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

$(OUT)/video/$(1)/unit.h5: $(OUT)/video/$(1)/frames.h5 $(VIDEO_MODEL) $(BIN)/cnn-saliency
	$(BIN)/cnn-saliency -q --threads $(VIDEO_JOBS) --batch $(VIDEO_BATCH) -m $(VIDEO_MODEL) \
	    -M $(VIDEO_METHOD) -t unit=$(VIDEO_LAYER):$(VIDEO_UNIT) $$< -o $$@

# One PNG per frame, named by frame number from 0; GNU Parallel shards.
$(OUT)/video/$(1)/render/.done: $(OUT)/video/$(1)/acts.h5 $(OUT)/video/$(1)/unit.h5 \
                                $(VIDEO_UNIT_H5) $(BIN)/cnn-render
	@rm -rf $(OUT)/video/$(1)/render.tmp && mkdir -p $(OUT)/video/$(1)/render.tmp
	n=$$$$($(BIN)/cnn-info --rows $(OUT)/video/$(1)/acts.h5) && \
	seq 0 $(VIDEO_CHUNK) $$$$((n - 1)) | awk '{ print $$$$1, $$$$1 + $(VIDEO_CHUNK) }' | \
	parallel --will-cite -j $(VIDEO_JOBS) --colsep ' ' --halt now,fail=1 \
	  $(BIN)/cnn-render activations -q -l $(VIDEO_LAYER) --label frame $(VIDEO_RENDER) \
	    --images $(OUT)/video/$(1)/frames.h5 --unit $(VIDEO_UNIT) \
	    --projection $(OUT)/video/$(1)/unit.h5 --patches $(VIDEO_UNIT_H5) \
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

# The unit's top 9 patches over the dataset (once per layer and unit).
$(VIDEO_UNIT_H5): $(VIDEO_DATASET) $(VIDEO_MODEL) $(BIN)/cnn-patches
	@mkdir -p $(@D)
	$(BIN)/cnn-patches -q --threads $(VIDEO_JOBS) -m $(VIDEO_MODEL) -l $(VIDEO_LAYER) -k 9 \
	    -c $(VIDEO_UNIT) $(VIDEO_DATASET) -o $@

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

# The sample clip: a photo zoomed and panned by ffmpeg at 30 frames a
# second, 224x224, with each frame's number drawn in its corner.
$(OUT)/video/sample-src.mp4: $(VIDEO_PHOTO)
	@mkdir -p $(@D)
	$(FFMPEG) -y -loop 1 -i $< -vf "scale=448:448:force_original_aspect_ratio=increase,crop=448:448,zoompan=z='1+0.4*on/($(VIDEO_SAMPLE_SECONDS)*30)':x='iw/2-iw/zoom/2+40*sin(on/12)':y='ih/2-ih/zoom/2':d=1:s=224x224:fps=30,drawtext=fontfile=$(VIDEO_FONT):text='%{frame_num}':x=w-tw-6:y=h-th-6:fontsize=20:fontcolor=white:box=1:boxcolor=black@0.7" \
	    -frames:v $$(($(VIDEO_SAMPLE_SECONDS) * 30)) -r 30 -c:v libx264 -pix_fmt yuv420p \
	    -f mp4 $(@D)/.sample-src.mp4.tmp
	@mv $(@D)/.sample-src.mp4.tmp $@
$(eval $(call video_rules,sample,$(OUT)/video/sample-src.mp4))

# Report figures (pipelines/report.def, section deepvis).
VIDEO_GIF_CAPTION = Tiny Darknet $(VIDEO_LAYER): all its feature maps for every frame of a \
  $(VIDEO_SAMPLE_SECONDS)-second clip (a photo panned and zoomed by ffmpeg; frame number \
  bottom right), the strongest map outlined in red; below, unit $(VIDEO_UNIT) (blue \
  outline): its map over the frame, its $(VIDEO_METHOD) backprop projection for the frame \
  and its top 9 patches over the sample photos. GIF at $(VIDEO_GIF_FPS) of the 30 frames \
  a second (the MP4 $(OUT)/video/sample.mp4 has them all).
VIDEO_PANEL_CAPTION = The Deep Visualization Toolbox view of the cat photo: Tiny Darknet \
  $(VIDEO_LAYER) (strongest map outlined in red) and unit $(VIDEO_UNIT): its map over the \
  image, its $(VIDEO_METHOD) backprop projection for this image, its top 9 patches over \
  the sample photos.
$(OUT)/video/activations.gif: $(OUT)/video/sample.gif
	$(call caption,$(VIDEO_GIF_CAPTION))
	@V=$(OUT)/video/sample; printf '%s\n' \
	  '$(FFMPEG) -i $(OUT)/video/sample-src.mp4 -fps_mode passthrough '"$$V"'/frames/%06d.png' \
	  '$(BIN)/cnn-images --size $(VIDEO_SIZE) --crop center --rgb '"$$V"'/frames -o '"$$V"'/frames.h5' \
	  '$(BIN)/cnn-forward -m $(VIDEO_MODEL) -l $(VIDEO_LAYER) '"$$V"'/frames.h5 -o '"$$V"'/acts.h5' \
	  '$(BIN)/cnn-saliency -m $(VIDEO_MODEL) -M $(VIDEO_METHOD) -t unit=$(VIDEO_LAYER):$(VIDEO_UNIT) '"$$V"'/frames.h5 -o '"$$V"'/unit.h5' \
	  '$(BIN)/cnn-patches -m $(VIDEO_MODEL) -l $(VIDEO_LAYER) -k 9 -c $(VIDEO_UNIT) $(VIDEO_DATASET) -o $(VIDEO_UNIT_H5)' \
	  'parallel -j $(VIDEO_JOBS) $(BIN)/cnn-render activations -l $(VIDEO_LAYER) --label frame $(VIDEO_RENDER) --images '"$$V"'/frames.h5 --unit $(VIDEO_UNIT) --projection '"$$V"'/unit.h5 --patches $(VIDEO_UNIT_H5) --range {1}:{2} -o '"$$V"'/render/%06d.png '"$$V"'/acts.h5' \
	  '$(FFMPEG) -framerate 30 -i '"$$V"'/render/%06d.png -vf fps=$(VIDEO_GIF_FPS),scale=$(VIDEO_GIF_WIDTH):-1,palettegen/paletteuse $(OUT)/video/sample.gif' >>$@.txt
	cp $< $(@D)/.activations.gif.tmp && mv $(@D)/.activations.gif.tmp $@

$(OUT)/video/panel/photo.h5: $(VIDEO_PHOTO) $(BIN)/cnn-images
	@mkdir -p $(@D)
	$(BIN)/cnn-images -q --size $(VIDEO_SIZE) --crop center --rgb $< -o $@
$(OUT)/video/panel/acts.h5: $(OUT)/video/panel/photo.h5 $(VIDEO_MODEL) $(BIN)/cnn-forward
	$(BIN)/cnn-forward -q -m $(VIDEO_MODEL) -l $(VIDEO_LAYER) $< -o $@
$(OUT)/video/panel/unit.h5: $(OUT)/video/panel/photo.h5 $(VIDEO_MODEL) $(BIN)/cnn-saliency
	$(BIN)/cnn-saliency -q -m $(VIDEO_MODEL) -M $(VIDEO_METHOD) \
	    -t unit=$(VIDEO_LAYER):$(VIDEO_UNIT) $< -o $@
$(OUT)/video/panel.png: $(OUT)/video/panel/acts.h5 $(OUT)/video/panel/unit.h5 \
                        $(VIDEO_UNIT_H5) $(OUT)/video/panel/photo.h5 $(BIN)/cnn-render
	$(call caption,$(VIDEO_PANEL_CAPTION))
	@printf '%s\n' '$(BIN)/cnn-render activations -l $(VIDEO_LAYER) --highlight --images $(OUT)/video/panel/photo.h5 --unit $(VIDEO_UNIT) --projection $(OUT)/video/panel/unit.h5 --patches $(VIDEO_UNIT_H5) $(OUT)/video/panel/acts.h5 -o $@' >>$@.txt
	$(BIN)/cnn-render activations -q -l $(VIDEO_LAYER) --highlight \
	    --images $(OUT)/video/panel/photo.h5 --unit $(VIDEO_UNIT) \
	    --projection $(OUT)/video/panel/unit.h5 --patches $(VIDEO_UNIT_H5) \
	    $(OUT)/video/panel/acts.h5 -o $@

# In the demo only with the pretrained model (else silently nothing).
ifneq ($(wildcard $(VIDEO_SRC_MODEL)/model.json),)
DEMO_TARGETS += $(OUT)/video/activations.gif $(OUT)/video/panel.png $(OUT)/video/sample.mp4
endif
