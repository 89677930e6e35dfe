# Feature visualisation at Lucid quality (issue 22) on Tiny Darknet, under
# $(OUT)/fv/: cnn-ascend's default recipe (Olah et al. 2017: 1/f Fourier
# image, ImageNet colour decorrelation, pad/jitter/scale/rotate every step,
# Adam, 256 steps). Included by pipelines/demo.mk after imagenet.mk (its
# model, $(IMN)/cat.h5 and the photos); the figures are the fv/ lines of
# pipelines/report.def, each rule writing its caption file first.
#
#   classes.png     one class each (captioned by /labels)
#   channels.png    whole feature maps (unit=L:C:mean), early to late layers
#   neurons.png     one unit each (unit=L:C@Y,X, the map's centre)
#   diversity.png   4 images of one channel with the Lucid diversity penalty
#   direction.png   +/- the first principal component of a layer's
#                   channel means over every photo (cnn-pca), as a direction
#   invert.png      the cat, then reconstructed from noise out of each
#                   layer's activations (Mahendran & Vedaldi 2015)
#
# Cost: the classes take the default's 256 steps; the channel, neuron,
# diversity, direction and inversion runs take FV_STEPS (128): by their
# objective traces (/values, the mean of the last 16 steps), 128 steps
# reach 0.79-0.93 of the 256-step value for the channels, neurons and
# directions, and the inversions' relative error is 0.009, 0.041, 0.156,
# 0.175 at 128 steps against 0.003, 0.024, 0.134, 0.157 at 256 (layers 2,
# 6, 10, 14): the figures look the same. About 4100 image-steps instead of
# 6900, some 17 minutes of one core instead of 30. FV_FLAGS adds
# cnn-ascend options to every run (FV_FLAGS="--steps 64" for a quick look).
ifneq ($(wildcard $(IMAGENET_DARKNET)/model.json),)
FV       := $(OUT)/fv
FV_FLAGS ?=
FV_STEPS ?= 128
FV_SHORT = --steps $(FV_STEPS) $(FV_FLAGS)
FV_CLASSES ?= robin macaw espresso tabby goldfish
# layer.channel (a dot: make targets cannot hold a colon); the layers'
# maps are 112, 56, 28 and 14 pixels wide.
FV_UNITS ?= leaky_re_lu_2.5 leaky_re_lu_6.20 leaky_re_lu_10.7 leaky_re_lu_14.42
FV_POS_leaky_re_lu_2  := @56,56
FV_POS_leaky_re_lu_6  := @28,28
FV_POS_leaky_re_lu_10 := @14,14
FV_POS_leaky_re_lu_14 := @7,7
FV_DIV_UNIT ?= leaky_re_lu_10.7
FV_DIV_W    ?= 100
FV_DIR_LAYER ?= leaky_re_lu_14
FV_PCA_PHOTOS ?= $(IMN_ALL)
FV_INV_PHOTO ?= $(IMN)/cat.h5
FV_INV_LAYERS ?= leaky_re_lu_2,leaky_re_lu_6,leaky_re_lu_10,leaky_re_lu_14
fv_unit = $(subst .,:,$(1))
fv_list = $(subst $(fv_space),$(imn_comma) ,$(strip $(1)))
fv_space := $(subst ,, )

FV_FIGURES := $(addprefix $(FV)/,classes.png channels.png neurons.png diversity.png \
              direction.png invert.png)
.PHONY: fv-figures
DEMO_TARGETS += fv-figures
fv-figures: $(FV_FIGURES)

$(FV)/class-%.h5: $(IMN_DT) | $(BIN)/cnn-ascend
	@mkdir -p $(@D)
	$(BIN)/cnn-ascend $(IMN_Q) -m $< -t "class=$(call imn_tgt,$*)" $(FV_FLAGS) -o $@
$(FV)/channel-%.h5: $(IMN_DT) | $(BIN)/cnn-ascend
	@mkdir -p $(@D)
	$(BIN)/cnn-ascend $(IMN_Q) -m $< -t unit=$(call fv_unit,$*):mean $(FV_SHORT) -o $@
$(FV)/neuron-%.h5: $(IMN_DT) | $(BIN)/cnn-ascend
	@mkdir -p $(@D)
	$(BIN)/cnn-ascend $(IMN_Q) -m $< -t unit=$(call fv_unit,$*)$(FV_POS_$(firstword $(subst ., ,$*))) $(FV_SHORT) -o $@
$(FV)/classes.h5: $(foreach c,$(FV_CLASSES),$(FV)/class-$(c).h5) | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@
$(FV)/channels.h5: $(foreach u,$(FV_UNITS),$(FV)/channel-$(u).h5) | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@
$(FV)/neurons.h5: $(foreach u,$(FV_UNITS),$(FV)/neuron-$(u).h5) | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@
$(FV)/diversity.h5: $(IMN_DT) | $(BIN)/cnn-ascend
	@mkdir -p $(@D)
	$(BIN)/cnn-ascend $(IMN_Q) -m $< -t unit=$(call fv_unit,$(FV_DIV_UNIT)):mean --count 4 \
	  --diversity $(FV_DIV_W) $(FV_SHORT) -o $@

# The direction: channel means of $(FV_DIR_LAYER) over every photo, PCA.
$(FV)/pca-acts.h5: $(IMN_DT) $(FV_PCA_PHOTOS) | $(BIN)/cnn-forward
	@mkdir -p $(@D)
	$(BIN)/cnn-forward $(IMN_Q) -m $< -l $(FV_DIR_LAYER) $(FV_PCA_PHOTOS) -o $@
$(FV)/pca-features.h5: $(FV)/pca-acts.h5 | $(BIN)/cnn-extract-layer
	$(BIN)/cnn-extract-layer -q -l $(FV_DIR_LAYER) --summary mean $< -o $@
$(FV)/pca.h5: $(FV)/pca-features.h5 | $(BIN)/cnn-pca
	$(BIN)/cnn-pca -q -k 1 $< -o $@
$(FV)/direction-pos.h5: $(IMN_DT) $(FV)/pca.h5 | $(BIN)/cnn-ascend
	$(BIN)/cnn-ascend $(IMN_Q) -m $< -t "direction=$(FV_DIR_LAYER):$(FV)/pca.h5" $(FV_SHORT) -o $@
$(FV)/direction-neg.h5: $(IMN_DT) $(FV)/pca.h5 | $(BIN)/cnn-ascend
	$(BIN)/cnn-ascend $(IMN_Q) -m $< -t "- direction=$(FV_DIR_LAYER):$(FV)/pca.h5" $(FV_SHORT) -o $@
$(FV)/direction.h5: $(FV)/direction-pos.h5 $(FV)/direction-neg.h5 | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@

# Inversion: the cat, then its reconstruction from each layer.
$(FV)/invert-runs.h5: $(IMN_DT) $(FV_INV_PHOTO) | $(BIN)/cnn-ascend
	@mkdir -p $(@D)
	$(BIN)/cnn-ascend $(IMN_Q) -m $< --invert $(FV_INV_PHOTO) --layers $(FV_INV_LAYERS) $(FV_SHORT) -o $@
$(FV)/invert.h5: $(FV_INV_PHOTO) $(FV)/invert-runs.h5 | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@

FV_GRID := $(BIN)/cnn-render grid $(IMN_Q) --scale 1
fv_how = the default recipe$(if $(strip $(FV_FLAGS)), with $(FV_FLAGS))
fv_short = the default recipe with --steps $(FV_STEPS)$(if $(strip $(FV_FLAGS)), $(FV_FLAGS))
$(FV)/classes.png: $(FV)/classes.h5 | $(BIN)/cnn-render
	$(call caption,Tiny Darknet: $(call fv_list,$(subst _, ,$(FV_CLASSES))) maximised from noise by $(fv_how) (Fourier basis$(imn_comma) decorrelated colours$(imn_comma) random pad/jitter/scale/rotate$(imn_comma) Adam; the class logit less half the log-sum-exp of the others); that value reached under each)
	$(FV_GRID) --cols $(words $(FV_CLASSES)) --caption auto -o $@ $<
$(FV)/channels.png: $(FV)/channels.h5 | $(BIN)/cnn-render
	$(call caption,Tiny Darknet: whole feature maps (the mean of channel C over positions) of layers from early to late$(imn_comma) left to right $(call fv_list,$(call fv_unit,$(FV_UNITS))) (layer:channel); early layers give colours and edges$(imn_comma) late ones textures and object parts; $(fv_short))
	$(FV_GRID) --cols $(words $(FV_UNITS)) --caption score -o $@ $<
$(FV)/neurons.png: $(FV)/neurons.h5 | $(BIN)/cnn-render
	$(call caption,Tiny Darknet: single neurons (the centre of each map) of the same channels$(imn_comma) left to right $(call fv_list,$(foreach u,$(FV_UNITS),$(call fv_unit,$(u))$(FV_POS_$(firstword $(subst ., ,$(u)))))); each fills only its receptive field; $(fv_short))
	$(FV_GRID) --cols $(words $(FV_UNITS)) --caption score -o $@ $<
$(FV)/diversity.png: $(FV)/diversity.h5 | $(BIN)/cnn-render
	$(call caption,Tiny Darknet $(call fv_unit,$(FV_DIV_UNIT)) (mean): 4 images optimised together with the Lucid diversity penalty (weight $(FV_DIV_W) on the summed cosine similarity of their Gram matrices at that layer): different facets of one channel; $(fv_short))
	$(FV_GRID) --cols 4 --caption none -o $@ $<
$(FV)/direction.png: $(FV)/direction.h5 | $(BIN)/cnn-render
	$(call caption,Tiny Darknet $(FV_DIR_LAYER): a direction in activation space$(imn_comma) the first principal component of the channel means of the layer over every photo (cnn-pca); left: plus the component$(imn_comma) right: minus it; $(fv_short))
	$(FV_GRID) --cols 2 --caption score -o $@ $<
$(FV)/invert.png: $(FV)/invert.h5 | $(BIN)/cnn-render
	$(call caption,Representation inversion (Mahendran and Vedaldi 2015) on Tiny Darknet: the cat$(imn_comma) then images grown from noise whose activations at $(call fv_list,$(subst $(imn_comma), ,$(FV_INV_LAYERS))) (left to right$(imn_comma) deeper) match those of the cat (relative squared error minimised; $(fv_short)): colour and detail fade with depth)
	$(FV_GRID) --cols $(words x $(subst $(imn_comma), ,$(FV_INV_LAYERS))) --caption none -o $@ $<
endif
