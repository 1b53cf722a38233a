#!/bin/sh
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 60) from its seed corpus.  A crash fails the run;
# the input is kept under build-fuzz/crashes/ — add it to the target's
# corpus (tests/fuzz/corpus/TARGET/) as a regression once fixed, and
# `make test` replays it from then on.  FUZZ_TARGETS= chooses targets.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_EACH=${FUZZ_SECONDS:-60}
command -v clang >/dev/null || {
	echo "fuzz: clang is not installed (apt-get install clang libclang-rt-14-dev)"
	exit 1
}
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer"
make -j2 BUILD=build-fuzz CC=clang OPT=-O1 EXTRA_CFLAGS="$SAN" \
	EXTRA_LDFLAGS="-fsanitize=address,undefined" fuzz-targets >/dev/null ||
	exit 1
mkdir -p build-fuzz/crashes
status=0
for bin in build-fuzz/fuzz/fuzz_*; do
	name=$(basename "$bin" | sed 's/^fuzz_//')
	case " ${FUZZ_TARGETS:-$name} " in *" $name "*) ;; *) continue ;; esac
	# New inputs go to a scratch corpus; the repository's is read only.
	work=$(mktemp -d)
	cp -r "tests/fuzz/corpus/$name/." "$work/" 2>/dev/null
	"$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="build-fuzz/crashes/$name-" -print_final_stats=1 \
		"$work" >"build-fuzz/$name.log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "build-fuzz/$name.log")
	if [ "$rc" -ne 0 ]; then
		status=1
		echo "fuzz $name: CRASH after ${runs:-?} runs (see build-fuzz/$name.log)"
		grep -m 20 -E "ERROR|SUMMARY|#[0-9]+ " "build-fuzz/$name.log"
	else
		echo "fuzz $name: ${SECONDS_EACH}s, ${runs:-?} runs, no crash"
	fi
	rm -rf "$work"
done
exit $status
