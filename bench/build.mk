# The benchmark (bench/README.md): its C load helper and `make bench`.
#
#   make bench                       the full run, results in bench/results/
#   make bench BENCH_ARGS="--quick"  a small run, results in bench/results/tmp/
BENCH_HELPERS := $(BUILD)/bench/lfb-walk

$(BUILD)/bench/lfb-walk: $(BUILD)/bench/lfb_walk.o $(BUILD)/liblayer.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Built with everything else, so the tests find it; never installed.
all: $(BENCH_HELPERS)

BENCH_ARGS ?=
bench: all
	python3 bench/bench.py --build $(BUILD) $(BENCH_ARGS)

-include $(BUILD)/bench/lfb_walk.d
