# layerrun, the container launcher, with layerfs inside (fs/build.mk's
# objects and libraries).  libcap names and sets capabilities;
# json-c comes in through lib/image.c (the image's OCI configuration);
# libseccomp compiles --security-opt seccomp=PROFILE (only then: the
# built-in filter is written from numbers made at build time, below).
#
# The container's PID 1 (mounter/init/) is a separate static program:
# layerrun carries it (init_image.c) and runs it from a sealed memfd,
# so it needs nothing from the container's root.  It is built with its
# own flags: a sanitizer build cannot link a static program.
MOUNTER_PKGS := libcap json-c libseccomp
CFLAGS_mounter := $(shell pkg-config --cflags $(MOUNTER_PKGS) 2>/dev/null)
MOUNTER_LIBS := $(shell pkg-config --libs $(MOUNTER_PKGS) 2>/dev/null)

MOUNTER_SRC := $(wildcard mounter/*.c)
MOUNTER_OBJ := $(MOUNTER_SRC:%.c=$(BUILD)/%.o)
# Everything but main(), for the unit tests.
MOUNTER_LIB_OBJ := $(filter-out $(BUILD)/mounter/main.o,$(MOUNTER_OBJ))

# musl's static libc where there is one: the launcher copies the init
# into a memfd and execs it twice at every start, and with glibc it is
# 17 times larger (700 KB, half a millisecond more per start).
LR_INIT := $(BUILD)/mounter/layerrun-init
LR_INIT_SRC := $(wildcard mounter/init/*.c)
LR_INIT_CC := $(or $(shell command -v musl-gcc 2>/dev/null),$(CC))
$(LR_INIT): $(LR_INIT_SRC)
	@mkdir -p $(dir $@)
	$(LR_INIT_CC) -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Os \
		-static -s -o $@ $(LR_INIT_SRC)

# The container's seccomp filter (seccomp.c) takes each banned call's
# number on this machine's ABIs from a header that libseccomp's tables
# make at build time: nothing of libseccomp is linked or run at a start.
SECCOMP_GEN := $(BUILD)/mounter/gen/seccomp_numbers
SECCOMP_NUMBERS := $(BUILD)/mounter/gen/seccomp_numbers.h
$(SECCOMP_GEN): mounter/gen/seccomp_numbers.c mounter/seccomp_list.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -O1 -o $@ $< \
		$(shell pkg-config --libs libseccomp 2>/dev/null || echo -lseccomp)
$(SECCOMP_NUMBERS): $(SECCOMP_GEN)
	$(SECCOMP_GEN) > $@.tmp && mv $@.tmp $@
$(BUILD)/mounter/seccomp.o: $(SECCOMP_NUMBERS)
$(BUILD)/mounter/seccomp.o: CFLAGS += -I$(BUILD)/mounter/gen

$(BUILD)/mounter/init_image.o: $(LR_INIT)
$(BUILD)/mounter/init_image.o: CFLAGS += -DLR_INIT_PATH='"$(LR_INIT)"'

# The container's layerfs daemon is a fork of the launcher running
# layerfs_main() (mounter/daemon.c): layerrun carries the filesystem.
$(BUILD)/mounter/daemon.o: CFLAGS += -Ifs
$(BUILD)/layerrun: $(MOUNTER_OBJ) $(FS_LIB_OBJ) $(BUILD)/liblayer.a
	$(CC) $(LDFLAGS) $(STATIC_LDFLAGS) -o $@ $^ \
		$(call link_libs,$(MOUNTER_PKGS) $(FS_PKGS)) $(LDLIBS)

PROGRAMS += $(BUILD)/layerrun
MANPAGES += mounter/layerrun.1

# Unit tests of the launcher's parsers (tests/unit/test_layerrun_*.c)
# link its objects instead of the filesystem's; the shorter stem makes
# this rule win over tests/build.mk's.
$(BUILD)/tests/unit/test_layerrun_%.o: CFLAGS += -Imounter $(CFLAGS_mounter)
$(BUILD)/tests/test_layerrun_%: $(BUILD)/tests/unit/test_layerrun_%.o \
		$(MOUNTER_LIB_OBJ) $(FS_LIB_OBJ) $(BUILD)/liblayer.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(MOUNTER_LIBS) $(FS_LIBS) -lcmocka $(LDLIBS)

# The static multi-call payload the integration tests run in containers.
LR_PAYLOAD := $(BUILD)/tests/lrpayload
$(LR_PAYLOAD): tests/payload/lrpayload.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -O2 -static \
		-o $@ $<
all: $(LR_PAYLOAD)

# The fuzz target of the state files (tests/fuzz/fuzz_state.c).  The
# replay rule links its prerequisites ($^), the libFuzzer rule only
# $(FUZZ_OBJ_state): set that for the libFuzzer binary alone.
LR_STATE_OBJ := $(BUILD)/mounter/state_format.o
$(BUILD)/fuzz/fuzz_state $(BUILD)/tests/fuzzreplay_state: $(LR_STATE_OBJ)
$(BUILD)/fuzz/fuzz_state: FUZZ_OBJ_state := $(LR_STATE_OBJ)
$(BUILD)/fuzz/fuzz_state $(BUILD)/tests/fuzz/fuzz_state.o: \
	CFLAGS += -Imounter

-include $(MOUNTER_OBJ:.o=.d)
