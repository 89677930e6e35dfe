# ImageNet (issues 8 and 10): the pretrained classifiers of ../shared/models
# imported into $(OUT)/models/, and every ImageNet experiment of the lecture
# on Tiny Darknet (MobileNet too for classification), under $(OUT)/imagenet/.
# Included by pipelines/demo.mk; run from the repository root. The figures
# are the imagenet/ lines of pipelines/report.def; each rule writes its
# caption file first ($(call caption,...), demo.mk), then the PNG.
#
#   classify.png, classify-mobilenet.png   photos (the cat first), top-5 bars
#   shuffle.png         parts: the cat cut in 4x4 tiles, shuffled (2 seeds)
#   grid-occlude.png    parts: grey squares (the lecture's 250/200 px, scaled)
#   silhouette.png      shape: a cat's silhouette (hand-traced mask), a horse's
#   texture.png         texture: the cat in the texture of gravel (style transfer)
#   filters.png         conv2d_1's 16 RGB 3x3 kernels
#   occlude-strongest.png, occlude-class.png   Zeiler & Fergus figure 7
#   saliency.png        gradient, guided backprop, deconvnet, Grad-CAM
#   patches-LAYER.png   Zeiler & Fergus figure 2 at four depths over every
#                       photo (the samples and the natural ones): per map
#                       its 9 projections beside its 9 patches
#   gradcam.png         Grad-CAM over the saliency photos
#   ascend-classes.png, ascend-units.png   gradient ascent, Yosinski et al.
#   style.png, texture-synth.png           Gatys style transfer, textures
#
# Cost: about 110 s of CPU in all (2 minutes wall on 2 shared, loaded cores;
# make -j2 helps little there). Most of it is iterative: the 8 gradient
# ascents (60 steps each), the 4 style/texture runs (60-100 Adam steps), the
# 2 occlusions and the patches; IMN_ASC_REG, IMN_STYLE_FLAGS and
# IMN_SYNTH_FLAGS set the steps.
# $(DATA)/models (data/Makefile links ../shared/models there) first: the
# commands then name only data/, and each figure re-runs from data/ alone
# (pipelines/rerun-report.sh).
IMAGENET_SRC ?= $(firstword $(wildcard $(DATA)/models) ../shared/models)
IMAGENET_DARKNET := $(IMAGENET_SRC)/darknet-tiny
IMAGENET_MOBILENET := $(IMAGENET_SRC)/mobilenet_v1_0.25_224
IMAGENET_MODELS :=
ifneq ($(wildcard $(IMAGENET_DARKNET)/model.json),)
IMAGENET_MODELS += $(OUT)/models/darknet-tiny.h5
endif
ifneq ($(wildcard $(IMAGENET_MOBILENET)/model.json),)
IMAGENET_MODELS += $(OUT)/models/mobilenet.h5
endif

.PHONY: imagenet-models
DEMO_TARGETS += imagenet-models
imagenet-models: $(IMAGENET_MODELS)
ifeq ($(strip $(IMAGENET_MODELS)),)
	@echo "imagenet: no pretrained models in $(IMAGENET_SRC)/. Public copies (TF.js layers format):"
	@echo "  Tiny Darknet: github.com/ml5js/ml5-data-and-models, models/darknetclassifier/darknettiny/"
	@echo "  MobileNet v1 0.25: github.com/hiraginomincho/appinventor-extensions, appinventor/lib/tensorflowjs/"
	@echo "  Put each folder (model.json, shards, labels.txt) under $(IMAGENET_SRC)/, or import your own:"
	@echo "  cnn-import model.json|model.h5|model.onnx -o model.h5 (torchvision: torch.onnx.export)"
endif

# Tiny Darknet wants pixel/255, i.e. [0,1] as the tools give: no options.
$(OUT)/models/darknet-tiny.h5: $(IMAGENET_DARKNET)/model.json | $(BIN)/cnn-import
	@mkdir -p $(@D)
	$(BIN)/cnn-import -q $(IMAGENET_DARKNET) -o $@

# Keras MobileNet wants (p - 127.5) / 127.5: mean 0.5, std 0.5 on [0,1].
$(OUT)/models/mobilenet.h5: $(IMAGENET_MOBILENET)/model.json | $(BIN)/cnn-import
	@mkdir -p $(@D)
	$(BIN)/cnn-import -q --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 $(IMAGENET_MOBILENET) -o $@

# ---- The lecture's ImageNet experiments (only with Tiny Darknet) -------------
ifneq ($(wildcard $(IMAGENET_DARKNET)/model.json),)
IMN     := $(OUT)/imagenet
IMN_DT  := $(OUT)/models/darknet-tiny.h5
IMN_MN  := $(OUT)/models/mobilenet.h5
IMN_PH  := $(DATA)/photos
# Every photo, for the patches: the sample photos (photos224.h5) and the
# natural ones of Debian's wallpaper, artwork and sample-data packages
# (natural224.h5, data/Makefile), joined.
IMN_ALL := $(IMN)/all-photos.h5
IMN_ALL_SRC := $(DATA)/photos224.h5 $(DATA)/natural224.h5
IMN_Q   := -q
imn_comma := ,
imn_next = $(shell echo $$(($(1)+1)))
# Photos as the models take them: 224x224 RGB, the largest centred square.
IMN_CROP := --size 224x224 --crop center --rgb
# classify.png: the cat (skimage's chelsea) first, then a few others; the
# first IMN_SAL_N (well classified: Egyptian cat 68%, robin, macaw and
# espresso 88-99.6%) are the saliency rows.
IMN_PHOTOS := skimage_chelsea.png ml5_bird.jpg coral_parrot.jpg skimage_coffee.png \
              darknet_dog.jpg coral_hot_dog.jpg
# Occlusion (Zeiler & Fergus figure 7): well-classified photos (the cat
# 68%, the robin and the macaw 99.6%), so the change shows what the class
# rests on (darknet's dog photo is read as a dogsled).
IMN_OCC_PHOTOS := skimage_chelsea.png ml5_bird.jpg coral_parrot.jpg
IMN_OCC_LAYER  ?= leaky_re_lu_14
IMN_OCC_FLAGS  ?= -w 48 --stride 16 --fill gray
# Parts: tiles of the shuffle; the lecture's 250 and 200 pixel occluders on
# a photo about 750 pixels wide are a third and 4/15 of it: 75 and 60 pixels
# at 224, moved so that 3x3 and 4x4 of them cover the image.
IMN_TILES  ?= 4x4
IMN_GRID_A ?= --size 75 --stride 74
IMN_GRID_B ?= --size 60 --stride 54
# Patches at four depths (receptive fields 8, 26, 62 and 134 pixels); small
# patches drawn larger.
IMN_PATCH_LAYERS ?= leaky_re_lu_2 leaky_re_lu_6 leaky_re_lu_10 leaky_re_lu_14
IMN_PATCH_CH    ?= 0-5
# The deepest patches (134 px) drawn at 96 px: the page stays light.
IMN_PATCH_SIZE_leaky_re_lu_14 := 96
IMN_PATCH_SCALE_leaky_re_lu_2 := 8
IMN_PATCH_SCALE_leaky_re_lu_6 := 3
IMN_PATCH_SCALE_leaky_re_lu_10 := 1
# 16 photos a batch: the same patches in about 1.2 GB of memory (4.6 GB at
# cnn-patches' default of 64, on the 176 photos).
IMN_PATCH_BATCH ?= 16
# Gradient ascent (Yosinski et al. 2015 regularisers: decay, blur, jitter).
IMN_ASC_CLASSES ?= robin macaw espresso tabby
# layer.channel (a dot: make targets cannot hold a colon)
IMN_ASC_UNITS   ?= leaky_re_lu_10.3 leaky_re_lu_10.7 leaky_re_lu_14.11 leaky_re_lu_14.42
# Units: the centre position of the map (Yosinski et al.'s choice), so the
# picture shows the unit's receptive field (62 and 134 pixels) in the middle.
IMN_ASC_POS_leaky_re_lu_10 := @14,14
IMN_ASC_POS_leaky_re_lu_14 := @7,7
IMN_ASC_REG     ?= --start noise --steps 60 --l2 0.0001 --blur 1.0 --blur-every 4 --jitter 8
IMN_ASC_FLAGS   ?= $(IMN_ASC_REG) --lr 0.05
IMN_ASC_UNIT_FLAGS ?= $(IMN_ASC_REG) --lr 0.1
# Style transfer (Gatys) on Tiny Darknet: Adam on 224x224 pixels in [0,1].
# The paper's style weight (1000, cnn-style's default) barely moves the
# pixels here in a few dozen steps; 1e5 turns the cat into gravel. The
# Scream and the textures take deeper style layers (the first five
# LeakyReLUs see at most 18 pixels; bricks are bigger).
IMN_DEEP_STYLE  := --style-layers leaky_re_lu_1,leaky_re_lu_2,leaky_re_lu_4,leaky_re_lu_6,leaky_re_lu_8,leaky_re_lu_10
IMN_STYLE_FLAGS ?= --steps 60 --lr 0.05 --style-weight 1e5
IMN_STYLE_FLAGS_darknet_scream.jpg ?= --steps 60 --lr 0.05 --style-weight 1e8 $(IMN_DEEP_STYLE)
IMN_SYNTH_FLAGS ?= --steps 100 --lr 0.05 --style-weight 1e5 $(IMN_DEEP_STYLE)
IMN_TEXTURE     ?= skimage_gravel.png
IMN_STYLES      ?= skimage_gravel.png darknet_scream.jpg
IMN_SYNTH       ?= skimage_brick.png skimage_gravel.png

IMN_FIGURES := $(addprefix $(IMN)/,classify.png shuffle.png grid-occlude.png silhouette.png \
               texture.png filters.png occlude-strongest.png occlude-class.png saliency.png \
               gradcam.png $(IMN_PATCH_LAYERS:%=patches-%.png) ascend-classes.png ascend-units.png style.png \
               texture-synth.png)
ifneq ($(wildcard $(IMAGENET_MOBILENET)/model.json),)
IMN_FIGURES += $(IMN)/classify-mobilenet.png
endif
.PHONY: imagenet-figures
DEMO_TARGETS += imagenet-figures
imagenet-figures: $(IMN_FIGURES)

# ---- inputs
$(IMN)/photos.h5: $(addprefix $(IMN_PH)/,$(IMN_PHOTOS)) | $(BIN)/cnn-images
	@mkdir -p $(@D)
	$(BIN)/cnn-images $(IMN_Q) $(IMN_CROP) $^ -o $@
$(IMN)/cat.h5: $(IMN_PH)/skimage_chelsea.png | $(BIN)/cnn-images
	@mkdir -p $(@D)
	$(BIN)/cnn-images $(IMN_Q) $(IMN_CROP) $< -o $@
$(IMN)/occ-photos.h5: $(addprefix $(IMN_PH)/,$(IMN_OCC_PHOTOS)) | $(BIN)/cnn-images
	@mkdir -p $(@D)
	$(BIN)/cnn-images $(IMN_Q) $(IMN_CROP) $^ -o $@

# ---- classification
$(IMN)/classify.h5: $(IMN_DT) $(IMN)/photos.h5 | $(BIN)/cnn-forward
	$(BIN)/cnn-forward $(IMN_Q) -m $< $(IMN)/photos.h5 -o $@
$(IMN)/classify-mobilenet.h5: $(IMN_MN) $(IMN)/photos.h5 | $(BIN)/cnn-forward
	$(BIN)/cnn-forward $(IMN_Q) -m $< $(IMN)/photos.h5 -o $@
# A model's parameter count, as cnn-info prints it.
imn_params = $(shell $(BIN)/cnn-info $(1) | awk '$$1 == "total:" { print $$2 }')
$(IMN)/classify.png: $(IMN)/classify.h5 $(IMN)/photos.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet (ImageNet-1k$(imn_comma) $(call imn_params,$(IMN_DT)) parameters): the top-5 classes and their probabilities for six photos (224x224 centre crops; the cat is skimage chelsea).,classify $<)
	$(BIN)/cnn-render bars $(IMN_Q) --cols 3 --images $(IMN)/photos.h5 -o $@ $<
$(IMN)/classify-mobilenet.png: $(IMN)/classify-mobilenet.h5 $(IMN)/photos.h5 | $(BIN)/cnn-render
	$(call caption_finding,MobileNet v1 (width 0.25$(imn_comma) $(call imn_params,$(IMN_MN)) parameters): the top-5 classes of the same six photos.,classify $<)
	$(BIN)/cnn-render bars $(IMN_Q) --cols 3 --images $(IMN)/photos.h5 -o $@ $<

# ---- parts, shape or texture?
# Parts: the cat, then its tiles shuffled with two seeds, each classified.
$(IMN)/shuffle-%.h5: $(IMN)/cat.h5 | $(BIN)/cnn-perturb
	$(BIN)/cnn-perturb shuffle $(IMN_Q) --tiles $(IMN_TILES) --seed $* -o $@ $<
$(IMN)/shuffle.h5: $(IMN)/cat.h5 $(IMN)/shuffle-1.h5 $(IMN)/shuffle-2.h5 | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@
# Any images file X.h5 here, classified by Tiny Darknet.
$(IMN)/%.cls.h5: $(IMN)/%.h5 $(IMN_DT) | $(BIN)/cnn-forward
	$(BIN)/cnn-forward $(IMN_Q) -m $(IMN_DT) $< -o $@
$(IMN)/shuffle.png: $(IMN)/shuffle.cls.h5 $(IMN)/shuffle.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: the cat$(imn_comma) then cut into $(IMN_TILES) tiles shuffled at random (seeds 1 and 2): still a cat? Top-5 classes.,shuffle $<)
	$(BIN)/cnn-render bars $(IMN_Q) --cols 3 --images $(IMN)/shuffle.h5 -o $@ $<

# Parts: one copy of the cat per position of a grey square.
$(IMN)/grid-occlude.h5: $(IMN)/cat.h5 | $(BIN)/cnn-perturb $(BIN)/cnn-images
	$(BIN)/cnn-perturb grid-occlude $(IMN_Q) $(IMN_GRID_A) -o $(IMN)/grid-occlude-a.h5 $<
	$(BIN)/cnn-perturb grid-occlude $(IMN_Q) $(IMN_GRID_B) -o $(IMN)/grid-occlude-b.h5 $<
	$(BIN)/cnn-images $(IMN_Q) $(IMN)/grid-occlude-a.h5 $(IMN)/grid-occlude-b.h5 -o $@
	rm -f $(IMN)/grid-occlude-a.h5 $(IMN)/grid-occlude-b.h5
$(IMN)/grid-occlude.png: $(IMN)/grid-occlude.cls.h5 $(IMN)/grid-occlude.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: the cat with a grey square (0.5) over one part: 75 px squares (the lecture 250 px) on a 3x3 grid$(imn_comma) then 60 px squares (200 px) on a 4x4 grid; top-3 classes of each copy.,grid-occlude $<)
	$(BIN)/cnn-render bars $(IMN_Q) -k 3 --cols 3 --images $(IMN)/grid-occlude.h5 -o $@ $<

# Shape: a whole cat (chelsea is a close-up: a threshold gives no outline)
# and its silhouette from a mask traced by hand on the 224x224 centre crop of
# coral_cat_720p.jpg (pipelines/imagenet-cat-mask.png, 8-bit gray, 255
# inside the polygon x,y = 0,118 33,117 67,113 72,97 68,73 62,47 60,35 66,37
# 78,46 92,61 105,58 122,57 140,58 150,38 163,26 175,37 180,63 185,87 190,117
# 192,150 193,183 197,224 0,224, sampled at pixel centres), and skimage's
# horse, which is a silhouette already.
$(IMN)/cat2.h5: $(IMN_PH)/coral_cat_720p.jpg | $(BIN)/cnn-images
	@mkdir -p $(@D)
	$(BIN)/cnn-images $(IMN_Q) $(IMN_CROP) $< -o $@
$(IMN)/cat2-mask.h5: pipelines/imagenet-cat-mask.png | $(BIN)/cnn-images
	@mkdir -p $(@D)
	$(BIN)/cnn-images $(IMN_Q) --rgb $< -o $@
$(IMN)/silhouette.h5: $(IMN)/cat2.h5 $(IMN)/cat2-mask.h5 $(IMN_PH)/skimage_horse.png | $(BIN)/cnn-perturb $(BIN)/cnn-images
	$(BIN)/cnn-perturb silhouette $(IMN_Q) --mask $(IMN)/cat2-mask.h5 -o $(IMN)/cat2-sil.h5 $<
	$(BIN)/cnn-images $(IMN_Q) $(IMN_CROP) $(IMN_PH)/skimage_horse.png -o $(IMN)/horse.h5
	$(BIN)/cnn-images $(IMN_Q) $< $(IMN)/cat2-sil.h5 $(IMN)/horse.h5 -o $@
	rm -f $(IMN)/cat2-sil.h5 $(IMN)/horse.h5
$(IMN)/silhouette.png: $(IMN)/silhouette.cls.h5 $(IMN)/silhouette.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: a cat$(imn_comma) its silhouette (black on white$(imn_comma) cnn-perturb silhouette with a hand-traced mask) and the silhouette of a horse (skimage); top-5 classes.,silhouette $<)
	$(BIN)/cnn-render bars $(IMN_Q) --cols 3 --images $(IMN)/silhouette.h5 -o $@ $<

# Texture: the cat redrawn in the texture of gravel (Gatys style transfer on
# Tiny Darknet itself), classified beside the cat.
$(IMN)/styled-%.h5: $(IMN_DT) $(IMN)/cat.h5 $(IMN_PH)/% | $(BIN)/cnn-style
	$(BIN)/cnn-style $(IMN_Q) -m $< --content $(IMN)/cat.h5 --style $(IMN_PH)/$* $(or $(IMN_STYLE_FLAGS_$*),$(IMN_STYLE_FLAGS)) -o $@
$(IMN)/texture.h5: $(IMN)/cat.h5 $(IMN)/styled-$(IMN_TEXTURE).h5 | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@
$(IMN)/texture.png: $(IMN)/texture.cls.h5 $(IMN)/texture.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: the cat$(imn_comma) and the cat with the texture of $(basename $(IMN_TEXTURE)) (Gatys style transfer on Tiny Darknet itself: $(IMN_STYLE_FLAGS); the lecture used elephant skin); top-5 classes.,texture $<)
	$(BIN)/cnn-render bars $(IMN_Q) --cols 2 --images $(IMN)/texture.h5 -o $@ $<

# ---- the first layer
$(IMN)/conv2d_1-weights.h5: $(IMN_DT) | $(BIN)/cnn-extract-layer
	@mkdir -p $(@D)
	$(BIN)/cnn-extract-layer $(IMN_Q) --weights -m $< -l conv2d_1 -o $@
$(IMN)/filters.png: $(IMN)/conv2d_1-weights.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: the 16 RGB kernels (3x3) of the first convolution conv2d_1$(imn_comma) each stretched to the colour range on its own.,filters $<)
	$(BIN)/cnn-render filters $(IMN_Q) --cols 8 --scale 24 -o $@ $<

# ---- occlusion (Zeiler & Fergus figure 7)
$(IMN)/occlude-strongest.h5: $(IMN_DT) $(IMN)/occ-photos.h5 | $(BIN)/cnn-occlude
	$(BIN)/cnn-occlude $(IMN_Q) -m $< -t strongest=$(IMN_OCC_LAYER):max --output percent $(IMN_OCC_FLAGS) -o $@ $(IMN)/occ-photos.h5
$(IMN)/occlude-class.h5: $(IMN_DT) $(IMN)/occ-photos.h5 | $(BIN)/cnn-occlude
	$(BIN)/cnn-occlude $(IMN_Q) -m $< -t pred --measure prob --output raw $(IMN_OCC_FLAGS) -o $@ $(IMN)/occ-photos.h5
$(IMN)/occlude-strongest.png: $(IMN)/occlude-strongest.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: the percent decrease of the strongest feature map of $(IMN_OCC_LAYER) (the last 512-map layer; per photo the map with the largest maximum$(imn_comma) measured by its maximum) as a grey 48x48 square moves by 16 pixels over each photo (diverging map centred on 0$(imn_comma) one range per photo; red: hiding that square lowers the map).,occlude-strongest $<)
	$(BIN)/cnn-render heatmap $(IMN_Q) --cols 3 --normalize tile --alpha 0.7 --caption path -o $@ $<
$(IMN)/occlude-class.png: $(IMN)/occlude-class.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: the change of the probability of the predicted class from the clean photo (its baseline) as a grey 48x48 square moves by 16 pixels over each photo (cnn-render heatmap --change; diverging map centred on 0$(imn_comma) one range per photo clipped at its 2% largest |change|; blue: hiding that square lowers the class$(imn_comma) red: raises it).,occlude-class $<)
	$(BIN)/cnn-render heatmap $(IMN_Q) --change --cols 3 --normalize tile --clip 2 --alpha 0.75 --caption path$(imn_comma)target -o $@ $<

# ---- saliency (Simonyan; Springenberg; Zeiler & Fergus; Grad-CAM): the
# first IMN_SAL_N photos (well classified), for their predicted class.
# saliency.png: /attr per colour channel as RGB (0 is mid-gray), clipped at
# the 99.5th percentile of |v| (Captum's outlier_perc 0.5): without it the
# few largest values make the rest black. gradcam.png: Grad-CAM over the
# photos, unsigned (viridis), one range per photo.
IMN_SAL_METHODS := gradient guided deconvnet
IMN_SAL_N       ?= 4
IMN_SAL_CLIP    ?= 0.5
$(IMN)/saliency/%.h5: $(IMN_DT) $(IMN)/photos.h5 | $(BIN)/cnn-saliency
	@mkdir -p $(@D)
	$(BIN)/cnn-saliency $(IMN_Q) -m $< --method $* -t pred --range 0:$(IMN_SAL_N) -o $@ $(IMN)/photos.h5
$(IMN)/saliency/gradcam.h5: $(IMN_DT) $(IMN)/photos.h5 | $(BIN)/cnn-saliency
	@mkdir -p $(@D)
	$(BIN)/cnn-saliency $(IMN_Q) -m $< --method gradcam -l $(IMN_OCC_LAYER) -t pred --range 0:$(IMN_SAL_N) -o $@ $(IMN)/photos.h5
$(IMN)/saliency-photos.h5: $(IMN)/photos.h5 | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) --range 0:$(IMN_SAL_N) $< -o $@
IMN_SAL_H5 := $(IMN_SAL_METHODS:%=$(IMN)/saliency/%.h5)
$(IMN)/saliency.png: $(IMN_SAL_H5) $(IMN)/saliency-photos.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: d(logit of the predicted class)/d(pixel) per colour channel as RGB (0 is mid-gray; clipped at the $(IMN_SAL_CLIP)% largest |v| of each map) for four well-classified photos (rows: file and predicted class); columns: the vanilla gradient (Simonyan)$(imn_comma) guided backprop (Springenberg) and deconvnet (Zeiler and Fergus).,saliency $(IMN_SAL_H5))
	$(BIN)/cnn-render heatmap $(IMN_Q) --attr --clip $(IMN_SAL_CLIP) --normalize tile \
	  --images $(IMN)/saliency-photos.h5 --titles "gradient,guided backprop,deconvnet" -o $@ $(IMN_SAL_H5)
$(IMN)/gradcam.png: $(IMN)/saliency/gradcam.h5 $(IMN)/saliency-photos.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: Grad-CAM at $(IMN_OCC_LAYER) for the predicted class over the same photos (viridis$(imn_comma) unsigned$(imn_comma) one range per photo$(imn_comma) clipped at its $(IMN_SAL_CLIP)% largest values).,gradcam $<)
	$(BIN)/cnn-render heatmap $(IMN_Q) --clip $(IMN_SAL_CLIP) --normalize tile --cols $(IMN_SAL_N) \
	  --caption path$(imn_comma)target --images $(IMN)/saliency-photos.h5 -o $@ $<

# ---- maximally activating patches (Zeiler & Fergus figure 2) at four
# depths: for IMN_PATCH_CH maps of each layer of IMN_PATCH_LAYERS, the 9
# photos (of all) whose strongest activation of the map is largest, the
# receptive field cropped (patches) and the deconvnet projection of that one
# activation (projections). patches-LAYER.png has one row per map: its 9
# projections, then its 9 patches (the paper's layout, a map's 3x3 blocks
# laid in a row); the rows are cut from the two files with cnn-images
# --range and interleaved.
$(IMN)/all-photos.h5: $(IMN_ALL_SRC) | $(BIN)/cnn-images
	@mkdir -p $(@D)
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@
$(IMN)/patches/%.h5 $(IMN)/patches/%-proj.h5 &: $(IMN_DT) $(IMN_ALL) | $(BIN)/cnn-patches
	@mkdir -p $(@D)
	$(BIN)/cnn-patches $(IMN_Q) -m $< -l $* -k 9 --channels $(IMN_PATCH_CH) \
	  --batch $(IMN_PATCH_BATCH) --projections $(IMN)/patches/$*-proj.h5 -o $(IMN)/patches/$*.h5 $(IMN_ALL)
# Keep the patches (every figure's finding reads all four layers).
.SECONDARY: $(IMN_PATCH_LAYERS:%=$(IMN)/patches/%.h5) $(IMN_PATCH_LAYERS:%=$(IMN)/patches/%-proj.h5)
imn_nch = $(shell echo '$(IMN_PATCH_CH)' | tr ',' '\n' | awk -F- '{ n += (NF == 2 ? $$2 - $$1 + 1 : 1) } END { print n }')
$(IMN)/patches-zf/%.h5: $(IMN)/patches/%.h5 $(IMN)/patches/%-proj.h5 | $(BIN)/cnn-images
	@rm -rf $(@D)/.$* && mkdir -p $(@D)/.$*
	for c in $$(seq 0 $$(($(imn_nch) - 1))); do r=$$((9 * c)):$$((9 * c + 9)); \
	  $(BIN)/cnn-images $(IMN_Q) --range $$r $(IMN)/patches/$*-proj.h5 -o $(@D)/.$*/$$c-a.h5 && \
	  $(BIN)/cnn-images $(IMN_Q) --range $$r $(IMN)/patches/$*.h5 -o $(@D)/.$*/$$c-b.h5 || exit 1; done
	$(BIN)/cnn-images $(IMN_Q) $(if $(IMN_PATCH_SIZE_$*),--size $(IMN_PATCH_SIZE_$*)) \
	  $$(for c in $$(seq 0 $$(($(imn_nch) - 1))); do \
	  printf '%s ' $(@D)/.$*/$$c-a.h5 $(@D)/.$*/$$c-b.h5; done) -o $@
	rm -rf $(@D)/.$*
imn_rf = $(shell $(BIN)/cnn-info $(IMN_DT) | awk '$$2 == "$(1)" { print $$(NF-2) }')
$(IMN)/patches-%.png: $(IMN)/patches-zf/%.h5 $(IMN_PATCH_LAYERS:%=$(IMN)/patches/%.h5) | $(BIN)/cnn-render $(BIN)/cnn-info
	$(call caption_finding,Tiny Darknet $* (receptive field $(call imn_rf,$*) pixels): for feature maps $(IMN_PATCH_CH)$(imn_comma) one per row$(imn_comma) the deconvnet projections of the 9 strongest activations over all $(words $(wildcard $(IMN_PH)/*.* $(DATA)/natural/*.*)) photos (left 9; grey 0$(imn_comma) lighter positive)$(imn_comma) then the 9 image patches (right 9: the receptive field of each activation$(if $(IMN_PATCH_SIZE_$*),$(imn_comma) drawn at $(IMN_PATCH_SIZE_$*) px)).,patches $(IMN)/patches/$*.h5 $(IMN_PATCH_LAYERS:%=$(IMN)/patches/%.h5))
	$(BIN)/cnn-render grid $(IMN_Q) --cols 18 --scale $(or $(IMN_PATCH_SCALE_$*),1) --caption none -o $@ $<

# ---- gradient ascent on the input: a few classes, a few units
imn_tgt = $(subst _, ,$(1))
# $(call imn_list,WORDS): WORDS joined by commas (a --titles list).
imn_list = $(subst $() ,$(imn_comma),$(strip $(1)))
# $(call imn_name,PHOTO): a photo's name without its source prefix and
# extension (skimage_gravel.png -> gravel, coral_hot_dog.jpg -> hot_dog).
imn_name = $(subst $() ,_,$(wordlist 2,9,$(subst _, ,$(basename $(1)))))
$(IMN)/ascend/class-%.h5: $(IMN_DT) | $(BIN)/cnn-ascend
	@mkdir -p $(@D)
	$(BIN)/cnn-ascend $(IMN_Q) -m $< -t "class=$(call imn_tgt,$*)" $(IMN_ASC_FLAGS) -o $@
$(IMN)/ascend/unit-%.h5: $(IMN_DT) | $(BIN)/cnn-ascend
	@mkdir -p $(@D)
	$(BIN)/cnn-ascend $(IMN_Q) -m $< -t unit=$(subst .,:,$*)$(IMN_ASC_POS_$(firstword $(subst ., ,$*))) $(IMN_ASC_UNIT_FLAGS) -o $@
$(IMN)/ascend-classes.h5: $(foreach c,$(IMN_ASC_CLASSES),$(IMN)/ascend/class-$(c).h5) | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@
$(IMN)/ascend-units.h5: $(foreach u,$(IMN_ASC_UNITS),$(IMN)/ascend/unit-$(u).h5) | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@
$(IMN)/ascend-classes.png: $(IMN)/ascend-classes.h5 $(IMN)/ascend-classes.cls.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: inputs grown from noise by gradient ascent on the logit of $(subst _, ,$(IMN_ASC_CLASSES)) (left to right; $(IMN_ASC_FLAGS)); each picture stretched to the full range; under each: the class (its logit at the end).,ascend-classes $(IMN)/ascend-classes.cls.h5)
	$(BIN)/cnn-render grid $(IMN_Q) --cols 4 --scale 1 --normalize tile -o $@ $<
IMN_ASC_UNIT_H5 := $(foreach u,$(IMN_ASC_UNITS),$(IMN)/ascend/unit-$(u).h5)
$(IMN)/ascend-units.png: $(IMN)/ascend-units.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet: inputs grown from noise to maximise one unit (the centre of a feature map): $(subst .,:,$(IMN_ASC_UNITS)) (layer:channel$(imn_comma) left to right; $(IMN_ASC_UNIT_FLAGS)); each picture stretched to the full range.,ascend-units $(IMN_ASC_UNIT_H5))
	$(BIN)/cnn-render grid $(IMN_Q) --cols 4 --scale 1 --caption none --normalize tile --titles '$(call imn_list,$(subst .,:,$(IMN_ASC_UNITS)))' -o $@ $<

# ---- style transfer and texture synthesis
$(IMN)/photo-%.h5: $(IMN_PH)/% | $(BIN)/cnn-images
	@mkdir -p $(@D)
	$(BIN)/cnn-images $(IMN_Q) $(IMN_CROP) $< -o $@
$(IMN)/style.h5: $(IMN)/cat.h5 $(foreach s,$(IMN_STYLES),$(IMN)/photo-$(s).h5 $(IMN)/styled-$(s).h5) | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@
$(IMN)/style.png: $(IMN)/style.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet style transfer (Gatys: content at the 4th LeakyReLU$(imn_comma) style Gram matrices of the first five LeakyReLUs (gravel: $(IMN_STYLE_FLAGS)) or of $(subst --style-layers ,,$(IMN_DEEP_STYLE)) (The Scream: style weight 1e8)$(imn_comma) Adam from the content): the cat$(imn_comma) then for each style the style photo and the result.,style $(foreach s,$(IMN_STYLES),$(IMN)/styled-$(s).h5))
	$(BIN)/cnn-render grid $(IMN_Q) --cols $(words x $(IMN_STYLES) $(IMN_STYLES)) --scale 1 --caption none \
	  --titles 'content (cat)$(subst $() $(imn_comma),$(imn_comma),$(foreach s,$(IMN_STYLES),$(imn_comma)style: $(call imn_name,$(s))$(imn_comma)result))' -o $@ $<
$(IMN)/synth-%.h5: $(IMN_DT) $(IMN_PH)/% | $(BIN)/cnn-style
	@mkdir -p $(@D)
	$(BIN)/cnn-style $(IMN_Q) -m $< --texture --style $(IMN_PH)/$* $(IMN_SYNTH_FLAGS) -o $@
$(IMN)/texture-synth.h5: $(foreach s,$(IMN_SYNTH),$(IMN)/photo-$(s).h5 $(IMN)/synth-$(s).h5) | $(BIN)/cnn-images
	$(BIN)/cnn-images $(IMN_Q) $^ -o $@
$(IMN)/texture-synth.png: $(IMN)/texture-synth.h5 | $(BIN)/cnn-render
	$(call caption_finding,Tiny Darknet texture synthesis (Gatys: style loss only$(imn_comma) from noise: $(IMN_SYNTH_FLAGS)): each texture photo ($(basename $(IMN_SYNTH))) beside its synthesis.,style $(foreach s,$(IMN_SYNTH),$(IMN)/synth-$(s).h5))
	$(BIN)/cnn-render grid $(IMN_Q) --cols 4 --scale 1 --caption none \
	  --titles '$(call imn_list,$(foreach s,$(IMN_SYNTH),$(call imn_name,$(s))$(imn_comma)synthesis))' -o $@ $<
endif
