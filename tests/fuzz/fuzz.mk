# Fuzzing what reads files (the model importers, cnn-images' decoders, the
# readers of each kind of HDF5 file) with libFuzzer (clang-14 and
# libclang-rt-14-dev from Debian bookworm), AddressSanitizer and UBSan;
# included by the top-level Makefile. See tests/fuzz/README.md.
#
#   make fuzz                     each harness (FUZZ_ALL) FUZZ_SECONDS
#                                 (60) in turn, one process, under nice
#   make fuzz FUZZ_TARGETS=onnx FUZZ_SECONDS=900
#   make fuzz FUZZ_SECONDS=900 FUZZ_FLAGS="-fork=1 -ignore_crashes=1"
#                                 a campaign that goes on after a finding
#   make fuzz-build               only build build-fuzz/fuzz_<target> (FUZZ_TARGETS)
#
# Seeds come from tests/fuzz/seeds/<fmt> (small valid and broken models);
# the growing corpus lives in build-fuzz/corpus/<fmt>, findings (crash-*,
# leak-*, timeout-*, oom-*) in build-fuzz/artifacts/<fmt>/. A finding, once
# fixed, goes to tests/fuzz/regress/<fmt>/ (tests/cli/fuzz_regress.sh).

FUZZ_CC      ?= clang-14
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_ALL     := onnx tfjs h5 image imagefmt exif idx json h5images h5act h5maps h5pca h5model
FUZZ_TARGETS ?= $(FUZZ_ALL)
FUZZ_RSS_MB  ?= 2048
FUZZ_FLAGS   ?=
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -std=gnu11 -fopenmp \
                -Icommon -I$(FUZZ_BUILD) -I$(BUILD) $(PKGCFLAGS) -MMD -MP
comma        := ,
FUZZ_WRAP    := $(addprefix -Wl$(comma)--wrap=,die die_usage malloc calloc realloc free \
                strdup strndup posix_memalign protobuf_c_message_unpack \
                protobuf_c_message_free_unpacked)
FUZZ_OBJ     := $(LIBSRC:%.c=$(FUZZ_BUILD)/%.o) $(FUZZ_BUILD)/onnx/onnx.pb-c.o
FUZZ_BINS    := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_OPTS    := -rss_limit_mb=$(FUZZ_RSS_MB) -malloc_limit_mb=$(FUZZ_RSS_MB) -timeout=10 \
                -max_len=262144 -print_final_stats=1

.PHONY: fuzz fuzz-build fuzz-deps

fuzz-deps:
	@command -v $(FUZZ_CC) >/dev/null && \
	  ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || \
	  { echo "installing clang-14 and libclang-rt-14-dev"; \
	    apt-get install -y clang-14 libclang-rt-14-dev libomp-14-dev; }

$(FUZZ_BUILD)/%.o: %.c | $(BUILD)/onnx/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -w -c -o $@ $<

$(FUZZ_BUILD)/onnx/onnx.pb-c.o: $(BUILD)/onnx/onnx.pb-c.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -w -c -o $@ $<

$(FUZZ_BUILD)/libcommon.a: $(FUZZ_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/harness_%.o: tests/fuzz/harness.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -fsanitize=fuzzer-no-link,$(FUZZ_CFLAGS)) \
	  -DFUZZ_$(shell echo $* | tr a-z A-Z) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/harness_%.o $(FUZZ_BUILD)/libcommon.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -fopenmp -o $@ $< $(FUZZ_BUILD)/libcommon.a \
	  $(FUZZ_WRAP) $(OTHERLIBS) $(HDF5SHARED) -lm

.SECONDARY: $(FUZZ_ALL:%=$(FUZZ_BUILD)/harness_%.o)

# The same harnesses with tests/fuzz/driver.c instead of libFuzzer, built
# by `make all` (and so by `make asan`, sanitised) with the project's
# compiler: $(BUILD)/tests/fuzzrun_<target>. tests/cli/fuzz_regress.sh runs
# each on its seeds, its regression files and a fixed set of mutations.
FUZZRUN_BINS := $(FUZZ_ALL:%=$(BUILD)/tests/fuzzrun_%)
all: $(FUZZRUN_BINS)

$(BUILD)/tests/fuzz/harness_%.o: tests/fuzz/harness.c | $(BUILD)/onnx/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DFUZZ_$(shell echo $* | tr a-z A-Z) -c -o $@ $<

$(BUILD)/tests/fuzzrun_%: $(BUILD)/tests/fuzz/harness_%.o $(BUILD)/tests/fuzz/driver.o \
                          $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(BUILD)/tests/fuzz/harness_$*.o $(BUILD)/tests/fuzz/driver.o \
	  $(BUILD)/libcommon.a $(FUZZ_WRAP) $(OTHERLIBS) $(HDF5SHARED) -lm -fopenmp

.SECONDARY: $(FUZZ_ALL:%=$(BUILD)/tests/fuzz/harness_%.o)

fuzz-build: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

# The TF.js harness writes each input as model.json beside the shards of the
# seed models (tests/fuzz/seeds/tfjs-shards). The HDF5 targets (h5*) run
# without LeakSanitizer: libhdf5 does not free its metadata cache when it
# fails to open a corrupt file (every such input would be a "leak"); the
# harness still fails a successful read that leaks what our code took. The harness itself is not
# instrumented for coverage (its bookkeeping would only slow it down).
fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	  dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	  dirs=; for d in tests/fuzz/seeds/$$t tests/fuzz/regress/$$t; do \
	    [ -d $$d ] && dirs="$$dirs $$d"; done; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s (log: $(FUZZ_BUILD)/fuzz_$$t.log)"; \
	  leaks=1; case $$t in h5*) leaks=0 ;; esac; \
	  FUZZ_SHARDS=$(CURDIR)/tests/fuzz/seeds/tfjs-shards \
	  ASAN_OPTIONS=detect_leaks=$$leaks:allocator_may_return_null=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  nice -n 19 $(FUZZ_BUILD)/fuzz_$$t $(FUZZ_OPTS) $(FUZZ_FLAGS) $$dict \
	    -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	    $(FUZZ_BUILD)/corpus/$$t $$dirs >$(FUZZ_BUILD)/fuzz_$$t.log 2>&1; rc=$$?; \
	  grep -E '^#[0-9]+ +DONE|^(==[0-9]+==)?(ERROR|SUMMARY)|^stat::' $(FUZZ_BUILD)/fuzz_$$t.log; \
	  grep -E '^#[0-9]+: cov' $(FUZZ_BUILD)/fuzz_$$t.log | tail -1; \
	  ls $(FUZZ_BUILD)/artifacts/$$t | sed 's|^|finding: $(FUZZ_BUILD)/artifacts/'$$t'/|'; \
	  [ $$rc = 0 ] || { tail -40 $(FUZZ_BUILD)/fuzz_$$t.log; exit 1; }; \
	done

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)
