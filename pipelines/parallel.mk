# Scale-out with GNU Parallel: one experiment split into --range shards that
# run at the same time, on local cores or on other hosts, and joined with
# cnn-join into exactly the file one run writes. Included by
# pipelines/demo.mk (on the MNIST CNN), or run alone on any model and images:
#
#   make -f pipelines/parallel.mk PAR_MODEL=model.h5 PAR_IMAGES=images.h5 \
#        PAR_LAYER=conv1 PAR_DIR=out/par [PAR_HOSTS=4/host1,4/host2,2/:]
#
# The experiment: the activations of one layer for every image (cnn-forward,
# cnn-extract-layer: per image, so it shards linearly), then their PCA (a
# reduction over all rows: it runs once, on the joined features; with very
# many rows, fit on a sample and project each shard with cnn-pca --fit
# --apply, which shards again).
#
# Hosts: PAR_HOSTS is GNU Parallel's --sshlogin list ("N/host" = N job slots
# on host; ":" is this machine). With remote hosts, the model and images are
# sent with --transferfile into a fresh work folder (--wd ...), each shard
# comes back with --return and is removed there (--cleanup); the remote hosts
# need cnntools on their PATH (make install PREFIX=$HOME/.local). With only
# ":" the same command runs here, without transfers.
#
#   $(PAR_DIR)/shards/features-K.h5   the K-th shard (rows K*PAR_ROWS ...)
#   $(PAR_DIR)/features.h5            the shards joined: equal to one run
#   $(PAR_DIR)/pca.h5                 PCA of the joined features (k = 2)
BIN        ?= bin
OUT        ?= out
DATA       ?= data/fetched
PAR_MODEL  ?= $(OUT)/mnist/model.h5
PAR_IMAGES ?= $(DATA)/mnist-test.h5
PAR_LAYER  ?= conv1
PAR_DIR    ?= $(OUT)/parallel
PAR_ROWS   ?= 250
PAR_HOSTS  ?= 2/:
PAR_PATH   := $(abspath $(BIN)):$(PATH)

# Remote hosts get the inputs sent and the shards returned.
comma      := ,
PAR_REMOTE  = $(filter-out : %/:,$(subst $(comma), ,$(PAR_HOSTS)))
PAR_XFER    = $(if $(PAR_REMOTE),--wd ... --transferfile model.h5 --transferfile images.h5 \
              --return shards/features-{#}.h5 --cleanup)

# Run alone (not included by demo.mk), the inputs have no rule that makes
# them: say which variable to set instead of make's "No rule to make target".
ifeq ($(words $(MAKEFILE_LIST)),1)
$(PAR_MODEL) $(PAR_IMAGES):
	@echo "parallel.mk: $@ does not exist: set PAR_MODEL=model.h5 PAR_IMAGES=images.h5 (or run make demo first)" >&2; exit 1
endif

.PHONY: parallel-pca
DEMO_TARGETS += parallel-pca
parallel-pca: $(PAR_DIR)/pca.h5

# Shards run in $(PAR_DIR) with the inputs linked in as model.h5 and
# images.h5, so that the command is the same here and on a remote host.
$(PAR_DIR)/features.h5: $(PAR_MODEL) $(PAR_IMAGES) | $(BIN)/cnn-forward $(BIN)/cnn-extract-layer $(BIN)/cnn-join
	@rm -rf $(PAR_DIR)/shards && mkdir -p $(PAR_DIR)/shards
	ln -sf $(abspath $(PAR_MODEL)) $(PAR_DIR)/model.h5
	ln -sf $(abspath $(PAR_IMAGES)) $(PAR_DIR)/images.h5
	n=$$(PATH=$(PAR_PATH) cnn-info --rows $(PAR_DIR)/images.h5) && \
	seq 0 $(PAR_ROWS) $$((n - 1)) | awk '{ print $$1 ":" $$1 + $(PAR_ROWS) }' | \
	  (cd $(PAR_DIR) && PATH=$(PAR_PATH) parallel --will-cite --halt now,fail=1 \
	    --sshlogin $(PAR_HOSTS) $(PAR_XFER) \
	    'cnn-forward -q --threads 1 -m model.h5 -l $(PAR_LAYER) --range {} images.h5 | \
	     cnn-extract-layer -q -l $(PAR_LAYER) -o shards/features-{#}.h5')
	PATH=$(PAR_PATH) cnn-join -o $@ $$(ls $(PAR_DIR)/shards/features-*.h5 | sort -V)
	rm -rf $(PAR_DIR)/shards $(PAR_DIR)/model.h5 $(PAR_DIR)/images.h5

$(PAR_DIR)/pca.h5: $(PAR_DIR)/features.h5 | $(BIN)/cnn-pca
	$(BIN)/cnn-pca -q -k 2 -o $@ $<
