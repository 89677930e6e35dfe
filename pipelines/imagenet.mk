# ImageNet (issue 8): the pretrained classifiers of ../shared/models
# imported into $(OUT)/models/. Included by pipelines/demo.mk; run from the
# repository root. Later work adds the lecture's experiments on them.
IMAGENET_SRC ?= ../shared/models
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
$(OUT)/models/darknet-tiny.h5: $(IMAGENET_DARKNET)/model.json $(BIN)/cnn-import
	@mkdir -p $(@D)
	$(BIN)/cnn-import -q $(IMAGENET_DARKNET) -o $@

# Keras MobileNet wants (p - 127.5) / 127.5: mean 0.5, std 0.5 on [0,1].
$(OUT)/models/mobilenet.h5: $(IMAGENET_MOBILENET)/model.json $(BIN)/cnn-import
	@mkdir -p $(@D)
	$(BIN)/cnn-import -q --mean 0.5,0.5,0.5 --std 0.5,0.5,0.5 $(IMAGENET_MOBILENET) -o $@
