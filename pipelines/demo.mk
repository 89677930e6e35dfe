# The demo: every pipeline, run from the repository root by `make demo`.
# Paths are relative to the root; outputs go under out/.
BIN   ?= bin
OUT   ?= out
DATA  ?= data/fetched
.DELETE_ON_ERROR:
.PHONY: demo

# $(call caption,TEXT): the caption file of the figure $@ ($@.txt, see
# pipelines/report.def). Call it first in the recipe; no single quotes in TEXT.
caption = @mkdir -p $(@D) && printf '%s\n' '$(strip $(1))' >$@.txt

# $(call caption_finding,TEXT,KIND FILE...): the caption, then on the same
# line the figure's finding: one sentence that pipelines/finding.py computes
# from the pipeline's HDF5 files (the lecture's conclusion and our numbers);
# the finding's command is the caption file's next line.
FINDING ?= /usr/bin/python3 pipelines/finding.py
caption_finding = @mkdir -p $(@D) && { printf '%s ' '$(strip $(1))'; \
  $(FINDING) $(2) || echo '(no finding: pipelines/finding.py $(firstword $(2)) failed)'; \
  printf '%s\n' '$(FINDING) $(strip $(2))'; } >$@.txt

-include pipelines/mnist.mk
-include pipelines/imagenet.mk
-include pipelines/fv.mk
-include pipelines/evaluate.mk
-include pipelines/parallel.mk
-include pipelines/video.mk

# ---- The report (issue 9): $(OUT)/index.html ---------------------------------
# One static page, the lecture in order with our figures (cnn-render html;
# format and contents: pipelines/report.def), checked in headless Chromium
# (pipelines/check-report.sh) when it is installed. The figures come from the
# pipelines above; DEMO_TARGETS are phony, so they are order-only here, and
# $(OUT)/.report-inputs (every figure and caption file of the report that
# exists, with size and time) is rewritten only when that list changes: a
# second `make demo` with nothing changed rebuilds nothing.
REPORT_DEF := pipelines/report.def
.PHONY: report-force

$(OUT)/.report-inputs: report-force | $(DEMO_TARGETS)
	@mkdir -p $(@D)
	@sed -n 's/^[[:space:]]*figure?\{0,1\}[[:space:]]\{1,\}//p' $(REPORT_DEF) | \
	  while read -r f; do for p in "$(OUT)/$$f" "$(OUT)/$$f.txt"; do \
	    if [ -f "$$p" ]; then stat -c '%n %s %.9Y' "$$p"; fi; done; done >$@.new; \
	  if cmp -s $@.new $@; then rm -f $@.new; else mv $@.new $@; fi

$(OUT)/index.html: $(REPORT_DEF) $(OUT)/.report-inputs $(BIN)/cnn-render
	$(BIN)/cnn-render html -o $@ $(REPORT_DEF)

# Then every PNG figure is made again from its own history (cnn-info
# --history) in an empty folder holding only data/ (and the committed mask
# of imagenet.mk's silhouette), and compared pixel for
# pixel (pipelines/rerun-report.sh; the folders under $(OUT)/.rerun, kept
# when it fails). Both run; either failing fails the demo.
# The page's weight: at most 6 MB (a phone on a slow line), counted as
# what a reader downloads when every figure is shown: the page, each
# picture as embedded (cnn-render html embeds X.display.webp, a lossy copy,
# for a heavy X.png; the PNG stays the figure, linked) and each video's
# poster (preload="none"). About 2.4 MB today (15 MB with the PNGs).
REPORT_MAX_BYTES ?= 6000000
$(OUT)/.report-checked: $(OUT)/index.html pipelines/check-report.sh pipelines/rerun-report.sh
	@rc=0; if command -v chromium >/dev/null 2>&1; then \
	  sh pipelines/check-report.sh --max-bytes $(REPORT_MAX_BYTES) $< || rc=1; \
	else echo "report: not checked in a browser (no chromium; apt-get install chromium)"; fi; \
	rm -rf $(OUT)/.rerun; \
	PATH=$(abspath $(BIN)):$$PATH sh pipelines/rerun-report.sh --work $(OUT)/.rerun \
	  --with pipelines/imagenet-cat-mask.png --with pipelines/finding.py $< || rc=1; \
	if [ $$rc -eq 0 ]; then rm -rf $(OUT)/.rerun && touch $@; \
	else echo "report: check failed (above; the re-run folders are in $(OUT)/.rerun)" >&2; exit 1; fi

demo: $(DEMO_TARGETS) $(OUT)/.report-checked
	@echo "demo: outputs are in $(OUT)/"
	@echo "demo: open $(OUT)/index.html (file://$(abspath $(OUT))/index.html)"
