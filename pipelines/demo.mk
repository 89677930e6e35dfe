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

-include pipelines/mnist.mk
-include pipelines/imagenet.mk
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

$(OUT)/.report-checked: $(OUT)/index.html pipelines/check-report.sh
	@if command -v chromium >/dev/null 2>&1; then \
	  sh pipelines/check-report.sh $< && touch $@; \
	else echo "report: not checked in a browser (no chromium; apt-get install chromium)"; fi

demo: $(DEMO_TARGETS) $(OUT)/.report-checked
	@echo "demo: outputs are in $(OUT)/"
	@echo "demo: open $(OUT)/index.html (file://$(abspath $(OUT))/index.html)"
