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

# TESTS= limits the integration modules (substring), e.g. TESTS=read_view
test: deps all unit-tests
	@BUILD=$(BUILD) TESTS="$(TESTS)" sh tests/run-tests.sh

# The whole suite on an AddressSanitizer + UBSan build (build-asan).
.PHONY: check-sanitize
check-sanitize: deps
	@sh scripts/check-sanitize.sh

# The integration tests with every layerfs daemon under valgrind memcheck.
.PHONY: check-valgrind
check-valgrind: deps
	@sh scripts/check-valgrind.sh
