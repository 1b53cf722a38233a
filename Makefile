# layerfs: a union filesystem in userspace, its container launcher and tools.
#
#   make            build layerfs, layerrun and layertool
#   make deps       install the Debian packages the build and tests need
#   make demo       build a small busybox image and show it through layerfs
#   make test       unit, integration and differential tests
#   make bench      layerfs against the peers (bench/README.md)
#   make install    PREFIX=/usr/local DESTDIR=
#
# Each directory adds its own rules in build.mk.

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= /sbin
MANDIR ?= $(PREFIX)/share/man

CC ?= cc
OPT ?= -O2
CFLAGS ?= $(OPT) -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
	-D_FILE_OFFSET_BITS=64 -Ilib $(EXTRA_CFLAGS)
LDFLAGS += $(EXTRA_LDFLAGS)
LDLIBS += -lpthread

# Separate build trees for the sanitizer and fuzzing builds.
BUILD ?= build

# layerfs and layerrun, which every container start runs, are linked
# statically: a dynamically linked program spends some 0.3 ms of each
# start loading libc and the others (about 70 page faults, costly in a
# VM), and the container's child, a fork of the launcher, pays for the
# larger address space too: 6.7 -> 5.6 ms per container start (runc and
# crun ship static builds for the same reason).  STATIC=0 links them
# dynamically, as distributions do; the sanitizer and valgrind checks
# must (a sanitizer runtime, or valgrind's malloc, needs the dynamic
# loader).
STATIC ?= 1
# -static, and pkg-config's lists for it, when STATIC=1.
link_libs = $(shell pkg-config $(if $(filter 1,$(STATIC)),--static) --libs $(1) 2>/dev/null)
STATIC_LDFLAGS := $(if $(filter 1,$(STATIC)),-static)

PROGRAMS :=
MANPAGES :=

.PHONY: all clean deps test demo bench install
all:

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CFLAGS_$(firstword $(subst /, ,$*))) -MMD -MP -c $< -o $@

# The library every program links: whiteout naming, safe path walking,
# small helpers.
LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
$(BUILD)/liblayer.a: $(LIB_OBJ)
	ar rcs $@ $^

include $(wildcard fs/build.mk mounter/build.mk tools/build.mk \
	tests/build.mk bench/build.mk)

all: $(PROGRAMS)

deps:
	@sh scripts/deps.sh

demo: deps all
	@sh scripts/demo.sh

clean:
	rm -rf build build-*

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(PROGRAMS) $(DESTDIR)$(BINDIR)/
	$(if $(MANPAGES),install -m 0644 $(MANPAGES) $(DESTDIR)$(MANDIR)/man1/)

-include $(LIB_OBJ:.o=.d)
