# Unit tests (cmocka) and the test driver.
#
# A unit test tests/unit/test_NAME.c becomes $(BUILD)/tests/test_NAME,
# linked with the filesystem's objects (all but main) and liblayer.  Other
# directories add their own unit test binaries to UNIT_BIN.
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN += $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
CFLAGS_tests := $(CFLAGS_fs) -Ifs

$(BUILD)/tests/test_%: $(BUILD)/tests/unit/test_%.o $(FS_LIB_OBJ) \
		$(BUILD)/liblayer.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(FS_LIBS) -lcmocka $(LDLIBS)

.PHONY: unit-tests
unit-tests: $(UNIT_BIN)

# The headers each test and fuzz object was built from: a changed struct
# rebuilds them (a stale one had the old layout).
-include $(wildcard $(BUILD)/tests/unit/*.d $(BUILD)/tests/fuzz/*.d)

# TESTS= limits the integration modules (substrings, any of them), e.g.
# TESTS=read_view or TESTS="read_view cow"; one that matches nothing fails.
test: deps all unit-tests
	@BUILD=$(BUILD) TESTS="$(TESTS)" sh tests/run-tests.sh

# The whole suite on an AddressSanitizer + UBSan build (build-asan).
.PHONY: check-sanitize
check-sanitize: deps
	@sh scripts/check-sanitize.sh

# The integration tests with every daemon on FUSE over io_uring (the fuse
# module's enable_uring turned on for the run; root only).
.PHONY: check-uring
check-uring: all
	@TESTS="$(TESTS)" sh scripts/check-uring.sh

# The same with enable_uring turned off: every daemon reads /dev/fuse.
# A kernel that boots with it on runs `make test` on the rings alone.
.PHONY: check-devfuse
check-devfuse: all
	@TESTS="$(TESTS)" sh scripts/check-uring.sh --off

# The integration tests with every layerfs daemon under valgrind memcheck.
.PHONY: check-valgrind
check-valgrind: deps
	@sh scripts/check-valgrind.sh

# Fuzz targets: tests/fuzz/fuzz_NAME.c with a seed corpus in
# tests/fuzz/corpus/NAME/.  `make fuzz` builds them with clang and
# libFuzzer and runs each for FUZZ_SECONDS; `make test` replays every
# corpus input through the same code built normally.  Targets for other
# directories' code add their objects with FUZZ_OBJ_NAME := ... in their
# build.mk.
FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_NAMES := $(FUZZ_SRC:tests/fuzz/%.c=%)
CFLAGS_tests += -Itests/fuzz

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FS_LIB_OBJ) $(BUILD)/liblayer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CFLAGS_fs) -Ifs -fsanitize=fuzzer -o $@ $< \
		$(FUZZ_OBJ_$*) $(FS_LIB_OBJ) $(BUILD)/liblayer.a $(FS_LIBS) \
		$(FUZZ_LIBS_$*) $(LDLIBS)

# liblayer.a goes after every object (other directories add theirs as
# prerequisites after it), so that their references into it resolve.
$(BUILD)/tests/fuzzreplay_%: $(BUILD)/tests/fuzz/fuzz_%.o \
		$(BUILD)/tests/fuzz/replay_main.o $(FS_LIB_OBJ) $(BUILD)/liblayer.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $(filter-out %.a,$^) $(FUZZ_OBJ_$*) \
		$(filter %.a,$^) $(FS_LIBS) $(FUZZ_LIBS_$*) $(LDLIBS)

FUZZ_REPLAY := $(FUZZ_NAMES:fuzz_%=$(BUILD)/tests/fuzzreplay_%)
unit-tests: $(FUZZ_REPLAY)

.PHONY: fuzz-targets fuzz
fuzz-targets: $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)
fuzz: deps
	@sh scripts/fuzz.sh

# Stress: tests/integration/test_stress.py (many processes, mixed
# operations, checked against a model and the local filesystem) for
# STRESS_SECONDS; `make test` runs it for LFS_STRESS_SECONDS' default.
# stress-memory: daemon RSS over a cached million-file tree
# (tests/stress/memory.py; STRESS_FILES sets the size).
STRESS_SECONDS ?= 180
STRESS_FILES ?= 1000000
.PHONY: stress stress-memory check-tsan
stress: all
	@cd tests/integration && LFS_STRESS_SECONDS=$(STRESS_SECONDS) \
		timeout --kill-after=30 $$(($(STRESS_SECONDS) * 3 + 600)) \
		python3 test_stress.py -v

stress-memory: all
	@python3 tests/stress/memory.py $(STRESS_FILES)

# The concurrency and stress tests on a ThreadSanitizer build of the
# daemon (build-tsan).
check-tsan: deps
	@sh scripts/check-tsan.sh
