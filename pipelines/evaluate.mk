# Evaluation of attributions (issue 21) on Tiny Darknet, under
# $(OUT)/evaluate/: every method of cnn-saliency on the same photos, how
# faithful each is (deletion and insertion, Petsiuk et al. 2018) and which
# of them survive the randomisation of the weights (Adebayo et al. 2018).
# Included by pipelines/demo.mk after imagenet.mk (its model and photo
# folder); the figures are the evaluate/ lines of pipelines/report.def.
#
#   methods.png     one column per method, one row per photo (labelled grid)
#   auc.png         deletion and insertion curves of Grad-CAM; its caption
#                   (and auc.tsv) the table of every method's mean AUCs
#   sanity.png      cascading randomisation of gradient, guided backprop
#                   and Grad-CAM: similarity to the trained model's map as
#                   the layers are re-initialised from the top down
#
# Cost: Score-CAM is one forward per channel of the layer (512 per photo),
# SmoothGrad and integrated gradients 50 backward passes per photo, each
# deletion/insertion curve EVL_STEPS + 1 forwards per photo; about 3 minutes
# of CPU in all. EVL_METHODS, EVL_PHOTOS, EVL_STEPS and EVL_LAYER choose.
ifneq ($(wildcard $(IMAGENET_DARKNET)/model.json),)
EVL         := $(OUT)/evaluate
EVL_PHOTOS  ?= ml5_cat.jpg coral_parrot.jpg coral_hot_dog.jpg
EVL_LAYER   ?= $(IMN_OCC_LAYER)
EVL_CAMS    := gradcam gradcam++ xgradcam layercam eigencam scorecam ablationcam guided-gradcam
EVL_METHODS ?= gradient guided deconvnet input-x-gradient smoothgrad integrated-gradients \
               deeplift $(EVL_CAMS)
EVL_SANITY  ?= gradient guided gradcam
EVL_STEPS   ?= 56
EVL_Q       ?= -q
evl_empty :=
evl_space := $(evl_empty) $(evl_empty)
evl_list = $(subst $(evl_space),$(imn_comma),$(strip $(1)))

EVL_FIGURES := $(addprefix $(EVL)/,methods.png auc.png sanity.png)
.PHONY: evaluate-figures
DEMO_TARGETS += evaluate-figures
evaluate-figures: $(EVL_FIGURES)

$(EVL)/photos.h5: $(addprefix $(IMN_PH)/,$(EVL_PHOTOS)) | $(BIN)/cnn-images
	@mkdir -p $(@D)
	$(BIN)/cnn-images $(EVL_Q) $(IMN_CROP) $^ -o $@

# ---- every method's maps of the predicted class, one file each
$(foreach c,$(EVL_CAMS),$(eval EVL_OPT_$(c) := -l $(EVL_LAYER)))
$(EVL)/maps/%.h5: $(IMN_DT) $(EVL)/photos.h5 | $(BIN)/cnn-saliency
	@mkdir -p $(@D)
	$(BIN)/cnn-saliency $(EVL_Q) -m $< -M $* $(EVL_OPT_$*) -t pred -o $@ $(EVL)/photos.h5
EVL_MAPS := $(foreach m,$(EVL_METHODS),$(EVL)/maps/$(m).h5)
# All of them in one file (cnn-join --stack: /method names each row's).
$(EVL)/methods.h5: $(EVL_MAPS) | $(BIN)/cnn-join
	$(BIN)/cnn-join $(EVL_Q) --stack $^ -o $@
$(EVL)/methods.png: $(EVL_MAPS) $(EVL)/photos.h5 $(EVL)/methods.h5 | $(BIN)/cnn-render
	$(call caption,Tiny Darknet: every attribution method of cnn-saliency (columns; the CAMs at $(EVL_LAYER)$(imn_comma) upsampled) for the predicted class of the same $(words $(EVL_PHOTOS)) photos (rows: photo and class); each map over its photo$(imn_comma) one colour range per map)
	$(BIN)/cnn-render heatmap $(EVL_Q) --images $(EVL)/photos.h5 --normalize tile \
	  --titles $(call evl_list,$(EVL_METHODS)) -o $@ $(EVL_MAPS)

# ---- deletion and insertion (Petsiuk et al.) of every method's maps
$(EVL)/deletion/%.h5: $(EVL)/maps/%.h5 $(EVL)/photos.h5 | $(BIN)/cnn-evaluate
	@mkdir -p $(@D)
	$(BIN)/cnn-evaluate $(EVL_Q) -m $(IMN_DT) --maps $< --metric deletion --steps $(EVL_STEPS) -o $@ $(EVL)/photos.h5
$(EVL)/insertion/%.h5: $(EVL)/maps/%.h5 $(EVL)/photos.h5 | $(BIN)/cnn-evaluate
	@mkdir -p $(@D)
	$(BIN)/cnn-evaluate $(EVL_Q) -m $(IMN_DT) --maps $< --metric insertion --steps $(EVL_STEPS) -o $@ $(EVL)/photos.h5
EVL_CURVES := $(foreach k,deletion insertion,$(foreach m,$(EVL_METHODS),$(EVL)/$(k)/$(m).h5))
# The table: method, mean deletion AUC, mean insertion AUC over the photos
# (cnn-render curves --list prints each curve's AUC).
$(EVL)/auc.tsv: $(EVL_CURVES) | $(BIN)/cnn-render
	@printf 'method\tdeletion\tinsertion\n' >$@.new
	@for m in $(EVL_METHODS); do \
	  d=$$($(BIN)/cnn-render curves --list $(EVL)/deletion/$$m.h5 | awk -F'\t' '{ s += $$3; n++ } END { printf "%.3f", s / n }'); \
	  i=$$($(BIN)/cnn-render curves --list $(EVL)/insertion/$$m.h5 | awk -F'\t' '{ s += $$3; n++ } END { printf "%.3f", s / n }'); \
	  printf '%s\t%s\t%s\n' "$$m" "$$d" "$$i" >>$@.new; done
	@mv $@.new $@
$(EVL)/auc.png: $(EVL)/deletion/gradcam.h5 $(EVL)/insertion/gradcam.h5 $(EVL)/auc.tsv | $(BIN)/cnn-render
	$(call caption,Tiny Darknet: deletion (pixels set to 0 in decreasing order of the map) and insertion (put back into a blurred copy) curves of Grad-CAM$(imn_comma) the probability of the class against the fraction of pixels$(imn_comma) $(EVL_STEPS) steps. Mean AUC over the photos$(imn_comma) deletion (lower is better) / insertion (higher is better): $(shell awk -F'\t' 'NR > 1 { printf "%s%s %s / %s", (NR > 2) ? "; " : "", $$1, $$2, $$3 }' $(EVL)/auc.tsv))
	$(BIN)/cnn-render curves $(EVL_Q) --size 560x420 -o $@ $(EVL)/deletion/gradcam.h5 $(EVL)/insertion/gradcam.h5

# ---- sanity checks (Adebayo et al.): cascading randomisation
$(EVL)/sanity/%.h5: $(EVL)/maps/%.h5 $(EVL)/photos.h5 | $(BIN)/cnn-evaluate
	@mkdir -p $(@D)
	$(BIN)/cnn-evaluate $(EVL_Q) -m $(IMN_DT) --maps $< --metric sanity -o $@ $(EVL)/photos.h5
$(EVL)/sanity.png: $(foreach m,$(EVL_SANITY),$(EVL)/sanity/$(m).h5) | $(BIN)/cnn-render
	$(call caption,Tiny Darknet: Adebayo et al. cascading randomisation for $(EVL_SANITY) (panels left to right): the layers with weights re-initialised from the output down (x axis$(imn_comma) one more at each step)$(imn_comma) and the Spearman rank correlation$(imn_comma) SSIM and HOG similarity of the recomputed map to the trained model (means over the photos))
	$(BIN)/cnn-render curves $(EVL_Q) --size 520x420 -o $@ $^
endif
