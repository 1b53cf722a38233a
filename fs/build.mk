# layerfs, the FUSE union filesystem.
FS_PKGS := fuse3 libxxhash liburing
CFLAGS_fs := $(shell pkg-config --cflags $(FS_PKGS) 2>/dev/null)
FS_LIBS := $(shell pkg-config --libs $(FS_PKGS) 2>/dev/null)

FS_SRC := $(wildcard fs/*.c)
FS_OBJ := $(FS_SRC:%.c=$(BUILD)/%.o)
# Everything but main(), for the unit tests, the fuzzers and layerrun
# (which runs layerfs_main() in a fork of itself).
FS_LIB_OBJ := $(filter-out $(BUILD)/fs/program.o,$(FS_OBJ))

$(BUILD)/layerfs: $(FS_OBJ) $(BUILD)/liblayer.a
	$(CC) $(LDFLAGS) $(STATIC_LDFLAGS) -o $@ $^ \
		$(call link_libs,$(FS_PKGS)) $(LDLIBS)

PROGRAMS += $(BUILD)/layerfs
MANPAGES += fs/layerfs.1
-include $(FS_OBJ:.o=.d)

.PHONY: fs-objects
fs-objects: $(FS_LIB_OBJ) $(BUILD)/liblayer.a
