# layertool, the tools for layers at rest (import, export, convert,
# check, diff, stats).  libarchive reads and writes every archive,
# json-c every JSON document, nettle (libarchive's own hash library)
# computes the digests, zlib (libarchive's own too) decodes gzip, as
# libarchive's reader does not check the CRC and length of a member.
TOOLS_PKGS := libarchive json-c nettle zlib
CFLAGS_tools := $(shell pkg-config --cflags $(TOOLS_PKGS) 2>/dev/null)
TOOLS_LIBS := $(shell pkg-config --libs $(TOOLS_PKGS) 2>/dev/null)

TOOLS_SRC := $(wildcard tools/*.c)
TOOLS_OBJ := $(TOOLS_SRC:%.c=$(BUILD)/%.o)
# Everything but main(), for the unit tests.
TOOLS_LIB_OBJ := $(filter-out $(BUILD)/tools/main.o,$(TOOLS_OBJ))

$(BUILD)/layertool: $(TOOLS_OBJ) $(BUILD)/liblayer.a
	$(CC) $(LDFLAGS) -o $@ $^ $(TOOLS_LIBS) $(LDLIBS)

PROGRAMS += $(BUILD)/layertool
MANPAGES += tools/layertool.1

# Unit tests of the tools' core (tests/unit/test_layertool_*.c): the
# generic rule in tests/build.mk links the filesystem's objects; these
# link layertool's instead.  The shorter stem makes this rule win.
$(BUILD)/tests/unit/test_layertool_%.o: CFLAGS += -Itools $(CFLAGS_tools)
$(BUILD)/tests/test_layertool_%: $(BUILD)/tests/unit/test_layertool_%.o \
		$(TOOLS_LIB_OBJ) $(BUILD)/liblayer.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(TOOLS_LIBS) -lcmocka $(LDLIBS)

# Kept between runs (make would delete them as intermediates), with their
# dependency files.
TOOLS_UNIT_OBJ := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%.o,\
	$(wildcard tests/unit/test_layertool_*.c))
.SECONDARY: $(TOOLS_UNIT_OBJ)

-include $(TOOLS_OBJ:.o=.d) $(TOOLS_UNIT_OBJ:.o=.d)

# The fuzz target for archive import (tests/fuzz/fuzz_import.c) links
# layertool's objects: prerequisites of both binaries, so that a change
# to them relinks; the replay rule links its prerequisites ($^), the
# libFuzzer rule only $(FUZZ_OBJ_import), set for that binary alone (as
# mounter/build.mk does for fuzz_state).
FUZZ_LIBS_import := $(TOOLS_LIBS)
$(BUILD)/tests/fuzz/fuzz_import.o: CFLAGS += -Itools $(CFLAGS_tools)
$(BUILD)/fuzz/fuzz_import: CFLAGS += -Itools $(CFLAGS_tools)
$(BUILD)/tests/fuzzreplay_import $(BUILD)/fuzz/fuzz_import: $(TOOLS_LIB_OBJ)
$(BUILD)/fuzz/fuzz_import: FUZZ_OBJ_import := $(TOOLS_LIB_OBJ)
