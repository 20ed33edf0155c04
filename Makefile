# fiona — plain Makefile. Targets: all test test-pg asan fuzz bench bench-scale bench-crash lint run deps
# clean.
#
# Sources are picked up by wildcard per module so adding a file needs no edit here:
#   core/ anon/ store/ fs/ net/ redcap/   -> build/libfiona.a
#   net/*.cc, anon/*.cc (the C++: dcmtk)  -> build/libfiona.a
#   cmd/*.c                               -> build/fiona
#   tests/unit/t_*.c                      -> build/tests/t_*   (one binary each)
#   tests/fuzz/fuzz_*.c                   -> build/fuzz-replay/fuzz_* (corpus replay, gcc)
#                                            build-fuzz/fuzz_*       (libFuzzer, clang)
#   tests/gen/*.c                         -> build/tools/<name>   (test tools, e.g. corpus generator)
#   tests/gen/lib/*.c                     -> linked into every test tool (e.g. DICOM encoder), and
#                                            as build/libtestgen.a into unit tests (JPEG 2000
#                                            encoder for t_j2k)
#   tests/redcap/*.c                      -> build/tools/redcap-emu (REDCap API emulator)

BUILD    ?= build
CC       ?= cc
CXX      ?= g++
SAN      ?=
OPT      ?= -O2
# `make test` builds what it runs with one job per core (CI calls plain `make test`);
# JOBS=-j1 builds serially
JOBS     ?= -j$(shell nproc)

# dcmtk's pkg-config file is unusable on Debian 12 (it requires sndfile.pc, which is
# not installed with libdcmtk-dev), so dcmtk is linked by library name.
PKGS       := fuse3 sqlite3 jansson libxxhash libcrypto zlib libcurl tesseract lept freetype2 \
              libopenjp2 libpq
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
DCMTK_LIBS := -ldcmnet -ldcmjpeg -ldcmjpls -ldcmtkcharls -lijg8 -lijg12 -lijg16 -ldcmimgle \
              -ldcmdata -loflog -lofstd

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wno-missing-field-initializers
CFLAGS   := -std=c11 -D_GNU_SOURCE $(OPT) -g $(WARN) -I. -I$(BUILD)/gen $(PKG_CFLAGS) $(SAN)
CXXFLAGS := -std=c++17 -D_GNU_SOURCE $(OPT) -g -Wall -Wextra -Werror -I. $(SAN)
LDFLAGS  += $(SAN)
LDLIBS   := $(PKG_LIBS) $(DCMTK_LIBS) -lpthread -lm

MODULES  := core anon store fs net redcap
LIB_C    := $(foreach m,$(MODULES),$(wildcard $(m)/*.c))
LIB_CXX  := $(wildcard net/*.cc anon/*.cc)
GEN_C    := $(BUILD)/gen/dict_table.c $(BUILD)/gen/annexe_table.c
CMD_C    := $(wildcard cmd/*.c)
UNIT_C   := $(wildcard tests/unit/t_*.c)
FUZZ_C   := $(wildcard tests/fuzz/fuzz_*.c)
TOOL_C   := $(wildcard tests/gen/*.c)
TOOL_LIB_C := $(wildcard tests/gen/lib/*.c)

LIB_OBJ  := $(LIB_C:%.c=$(BUILD)/obj/%.o) $(LIB_CXX:%.cc=$(BUILD)/obj/%.o) \
            $(GEN_C:$(BUILD)/gen/%.c=$(BUILD)/obj/gen/%.o)
CMD_OBJ  := $(CMD_C:%.c=$(BUILD)/obj/%.o)
UNIT_BIN := $(UNIT_C:tests/unit/%.c=$(BUILD)/tests/%)
REPLAY_BIN := $(FUZZ_C:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)
TOOL_BIN := $(TOOL_C:tests/gen/%.c=$(BUILD)/tools/%)
TOOL_LIB_OBJ := $(TOOL_LIB_C:%.c=$(BUILD)/obj/%.o)
EMU_C    := $(wildcard tests/redcap/*.c)
EMU_OBJ  := $(EMU_C:%.c=$(BUILD)/obj/%.o)
.SECONDARY: $(TOOL_LIB_OBJ)

DICOM_DIC ?= $(firstword $(wildcard /usr/share/libdcmtk*/dicom.dic))

.PHONY: all test test-pg asan fuzz bench bench-scale bench-crash lint run deps clean test-build
all: $(BUILD)/fiona $(TOOL_BIN)

deps:
	@sh tools/deps.sh

$(BUILD)/gen/dict_table.c: tools/gen_dict.sh $(DICOM_DIC)
	@mkdir -p $(@D)
	sh tools/gen_dict.sh "$(DICOM_DIC)" > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/annexe_table.c: tools/gen_annexe.sh anon/annexe-2024b.json
	@mkdir -p $(@D)
	sh tools/gen_annexe.sh anon/annexe-2024b.json > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.c | $(GEN_C)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libfiona.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/fiona: $(CMD_OBJ) $(BUILD)/libfiona.a
	$(CXX) $(LDFLAGS) -o $@ $(CMD_OBJ) $(BUILD)/libfiona.a $(LDLIBS)

$(BUILD)/libtestgen.a: $(TOOL_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/tests/%: tests/unit/%.c tests/unit/tt.h $(BUILD)/libtestgen.a $(BUILD)/libfiona.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@.o
	$(CXX) $(LDFLAGS) -o $@ $@.o $(BUILD)/libtestgen.a $(BUILD)/libfiona.a $(LDLIBS)

$(BUILD)/fuzz-replay/%: tests/fuzz/%.c tests/fuzz/replay_main.c $(BUILD)/libfiona.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@.o
	$(CC) $(CFLAGS) -c tests/fuzz/replay_main.c -o $@.main.o
	$(CXX) $(LDFLAGS) -o $@ $@.o $@.main.o $(BUILD)/libfiona.a $(LDLIBS)

$(BUILD)/tools/%: tests/gen/%.c $(TOOL_LIB_OBJ) $(BUILD)/libfiona.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(TOOL_LIB_OBJ) $(BUILD)/libfiona.a $(LDLIBS) -lstdc++

# The REDCap emulator links nothing of fiona: it must not share the client's bugs. libssl
# (its --tls-cert/--tls-key HTTPS) is linked here only.
$(BUILD)/tools/redcap-emu: $(EMU_OBJ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(EMU_OBJ) $(LDLIBS) -lssl

test-build: $(BUILD)/fiona $(UNIT_BIN) $(REPLAY_BIN) $(TOOL_BIN) $(BUILD)/tools/redcap-emu

test: deps
	@$(MAKE) --no-print-directory $(JOBS) test-build
	@BUILD=$(BUILD) sh tests/run.sh

# The gateway e2e tests again with the catalog on a private PostgreSQL (tests/e2e/pg.sh).
test-pg: deps
	@$(MAKE) --no-print-directory $(JOBS) test-build
	@BUILD=$(BUILD) sh tests/e2e/pg.sh

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" test

FUZZ_SECONDS ?= 60
fuzz: deps
	@sh tools/fuzz.sh $(FUZZ_SECONDS)

bench: deps all
	@sh tests/bench/run.sh

# kill -9 during ingest and forwarding, 20 times in a row (issue 13): a few minutes.
bench-crash: deps all
	@unshare -n sh -c 'ip link set lo up && sh tests/bench/crash.sh'

# A million instances (issue 11): about 25 minutes and 13 GB under ./var/bench-scale.
bench-scale: deps all
	@unshare -n sh -c 'ip link set lo up && sh tests/bench/scale.sh'

lint:
	clang-format --dry-run --Werror $(LIB_C) $(CMD_C) $(wildcard */*.h)
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	  --suppress=missingIncludeSystem -I. $(MODULES) cmd

run: deps all
	@sh tools/run.sh

clean:
	rm -rf build build-asan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
