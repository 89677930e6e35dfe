# cnntools — build, install, test, demo.  `make demo` and `make test` are the
# whole quick start: both install the Debian/npm packages first (make deps).

PREFIX  ?= /usr/local
CC      ?= cc
OPT     ?= -O3 -march=native
PKGS    := hdf5-serial libpng libjpeg libtiff-4 libwebp cairo jansson lapacke openblas libprotobuf-c zlib libzip
PKGCFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# HDF5 from its static archives: Debian's shared libhdf5_serial needs
# libcurl for its S3 driver, which no tool uses, and with it 28 more shared
# libraries (TLS, Kerberos, LDAP) that every start maps and relocates: 57
# against 33 ms for `cnn-forward --help`, 15.9 against 9.5 MB resident,
# densenet121 on one photo 69.8 against 63.5 MB. The archive's own
# dependencies (szip, zlib) stay shared. HDF5's global symbols go to the
# dynamic symbol table, where h5io's crash guard finds a crash inside it.
# (The fuzzing harnesses link the shared library: they count our code's
# allocations by wrapping malloc, which would count HDF5's caches too.)
HDF5LIBS  = $(shell pkg-config --libs-only-L hdf5-serial 2>/dev/null) -Wl,-Bstatic -lhdf5_hl -lhdf5 \
            -Wl,-Bdynamic -lsz -lz -ldl -Wl,--export-dynamic-symbol='H5*'
HDF5SHARED = $(shell pkg-config --libs hdf5-serial 2>/dev/null) -lhdf5_serial_hl
# OpenBLAS, LAPACKE and libtiff are loaded when first used (base/dynlib.h):
# their headers are compiled against, the libraries are not linked, and
# the sonames the build found are the ones loaded.
LAZYPKGS  := openblas lapacke libtiff-4
soname     = $(shell objdump -p "$$($(CC) -print-file-name=lib$(1).so)" 2>/dev/null | awk '/SONAME/ { print $$2 }')
OTHERLIBS = $(shell pkg-config --libs $(filter-out hdf5-serial $(LAZYPKGS),$(PKGS)) 2>/dev/null)
PKGLIBS   = $(OTHERLIBS) $(HDF5LIBS)
CFLAGS  ?= $(OPT) -g
# -fno-trapping-math: no floating-point traps are ever enabled here, so the
# compiler may turn a float comparison in a loop (a clamp, a ReLU's x > 0)
# into a blend and vectorise the loop; with traps assumed it keeps a branch
# and the loop scalar (SiLU's exp was half of an efficientnet_b0 forward).
# Values are the same; only the exception flags could differ.
CFLAGS  += -std=gnu11 -fno-trapping-math -Wall -Wextra -Werror -fopenmp -Icommon -I$(BUILD) $(PKGCFLAGS) -MMD -MP
LDLIBS  += $(PKGLIBS) -lm -fopenmp
BUILD   ?= build
BIN     ?= bin

# The ONNX protobuf schema ships with Debian's libonnx-dev; C code is generated.
ONNX_PROTO := /usr/include/onnx/onnx.proto

LIBSRC  := $(sort $(wildcard common/*/*.c common/nn/ops/*.c))
LIBOBJ  := $(LIBSRC:%.c=$(BUILD)/%.o) $(BUILD)/onnx/onnx.pb-c.o
TOOLSRC := $(sort $(wildcard tools/*.c))
TOOLS   := $(TOOLSRC:tools/%.c=$(BIN)/cnn-%)
MANS    := $(wildcard tools/*.1)

.PHONY: all deps test asan v3 test-v3 demo bench bench-zoo bench-zoo-v3 install clean data check-layers
.DELETE_ON_ERROR:

UNITSRC := $(sort $(wildcard tests/unit/test_*.c))
UNITS   := $(UNITSRC:tests/unit/%.c=$(BUILD)/tests/%)

all: $(TOOLS) $(UNITS)

$(BUILD)/onnx/onnx.pb-c.c $(BUILD)/onnx/onnx.pb-c.h &: $(ONNX_PROTO)
	@mkdir -p $(BUILD)/onnx
	cp $(ONNX_PROTO) $(BUILD)/onnx/onnx.proto
	cd $(BUILD) && protoc-c --c_out=. onnx/onnx.proto

$(BUILD)/onnx/onnx.pb-c.o: $(BUILD)/onnx/onnx.pb-c.c
	$(CC) $(filter-out -Werror -Wextra,$(CFLAGS)) -c -o $@ $<

$(BUILD)/%.o: %.c | $(BUILD)/onnx/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/common/base/blas.o: CFLAGS += -DBLAS_SONAME='"$(call soname,openblas)"' \
                                        -DLAPACKE_SONAME='"$(call soname,lapacke)"'
$(BUILD)/common/io/imagefmt.o: CFLAGS += -DTIFF_SONAME='"$(call soname,tiff)"'

$(BUILD)/libcommon.a: $(LIBOBJ)
	rm -f $@
	ar rcs $@ $^

$(BIN)/cnn-%: $(BUILD)/tools/%.o $(BUILD)/libcommon.a
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libcommon.a $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libcommon.a $(LDLIBS) -lcmocka

# Test-only driver for tests/ref/engine.sh (engine vs PyTorch).
$(BUILD)/tests/engine_driver: $(BUILD)/tests/ref/engine_driver.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libcommon.a $(LDLIBS)
all: $(BUILD)/tests/engine_driver

# The floors of common/ (README.md, "Code map"): includes point down, no
# cycles between rooms, no run of six lines shared by two files.
check-layers:
	@/usr/bin/python3 tests/layers/check.py

deps:
	@sh tests/deps.sh

data: deps all
	$(MAKE) -C data

test: deps all asan v3
	@BIN=$(BIN) BUILD=$(BUILD) ASAN_BIN=bin-asan ASAN_BUILD=build-asan \
	  V3_BIN=bin-v3 V3_BUILD=build-v3 sh tests/run.sh

# The AVX2 path (no AVX-512: the EPYC machines), built whatever this CPU has:
# `make test` runs the unit tests and the engine's reference test on it too;
# `make test-v3` only those.
V3_OPT ?= -O3 -march=x86-64-v3
v3:
	@$(MAKE) --no-print-directory BUILD=build-v3 BIN=bin-v3 OPT="$(V3_OPT)" all
test-v3: v3
	@BIN=bin-v3 BUILD=build-v3 V3_ONLY=1 V3_BIN=bin-v3 V3_BUILD=build-v3 sh tests/run.sh

# AddressSanitizer + UBSan build; `make test` runs the unit and command-line
# tests again with it (the slow reference tests run once, unsanitised).
asan:
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=bin-asan \
	  OPT="-O1 -g -march=native -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" all

# Each stage's output (progress bars on a terminal) streams to the terminal
# and is kept, without the bars, in $(DEMO_LOGS)/data.log and demo.log.
DEMO_LOGS ?= $(or $(OUT),out)
demo: deps all
	sh pipelines/logged.sh $(DEMO_LOGS)/data.log $(MAKE) -C data
	sh pipelines/logged.sh $(DEMO_LOGS)/demo.log $(MAKE) -f pipelines/demo.mk BIN=$(BIN) demo

$(BUILD)/bench/bench_engine: $(BUILD)/tests/bench/bench_engine.o $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/libcommon.a $(LDLIBS)
# Built with everything else, so that a bench run by hand after `make`
# never measures a binary linked against an older library.
all: $(BUILD)/bench/bench_engine

# The engine, occlusion and PCA beside PyTorch / scikit-learn on this
# machine (BENCH_THREADS, default 2; one run: these machines are noisy),
# and the torchvision zoo beside ONNX Runtime and PyTorch (tests/bench/zoo.sh;
# BENCH_NETS chooses the nets, BENCH_ZOO=0 skips it, `make bench-zoo` runs
# it alone).
BENCH_THREADS ?= 2
BENCH_NETS ?= resnet18 resnet50 mobilenet_v2 vgg16 alexnet
BENCH_ZOO ?= 1
export BENCH_NETS
bench: deps all $(BUILD)/bench/bench_engine
	@BUILD=$(BUILD) sh tests/bench/run.sh 2 $(BENCH_THREADS)
	@if [ "$(BENCH_ZOO)" != 0 ]; then echo; BUILD=$(BUILD) BIN=$(BIN) sh tests/bench/zoo.sh 2 $(BENCH_THREADS); fi
	@echo; BIN=$(BIN) sh tests/bench/occlude.sh $(BENCH_THREADS)
	@echo; BIN=$(BIN) sh tests/bench/pca.sh
	@echo; BIN=$(BIN) sh tests/bench/fv.sh
	@echo; BIN=$(BIN) sh tests/bench/cam.sh $(BENCH_THREADS)

bench-zoo: all $(BUILD)/bench/bench_engine
	@BUILD=$(BUILD) BIN=$(BIN) sh tests/bench/zoo.sh 2 $(BENCH_THREADS)

# The same with the AVX2 build (make v3) against ONNX Runtime and PyTorch
# held to AVX2 too (tests/bench/zoo.sh, BENCH_ISA=avx2): the EPYC machines
# without AVX-512, measured on this one.
bench-zoo-v3: v3
	@BUILD=build-v3 BIN=bin-v3 BENCH_ISA=avx2 sh tests/bench/zoo.sh 2 $(BENCH_THREADS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(TOOLS) $(DESTDIR)$(PREFIX)/bin
	for m in $(MANS); do b=$$(basename $$m); \
	  install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man1/cnn-$$b; done

clean:
	rm -rf build build-asan bin bin-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
-include tests/fuzz/fuzz.mk
