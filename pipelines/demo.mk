# The demo: every pipeline, run from the repository root by `make demo`.
# Paths are relative to the root; outputs go under out/.
BIN   ?= bin
OUT   ?= out
DATA  ?= data/fetched
.DELETE_ON_ERROR:
.PHONY: demo

-include pipelines/mnist.mk
-include pipelines/imagenet.mk

demo: $(DEMO_TARGETS)
	@echo "demo: outputs are in $(OUT)/"
