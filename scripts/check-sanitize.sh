#!/bin/sh
# Builds everything with AddressSanitizer and UndefinedBehaviorSanitizer
# into build-asan and runs the whole test suite on that build.  Any report
# from a sanitizer (in a test binary or in a daemon the tests started)
# fails the run, even when the test itself passed.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/lfs-sanitize.XXXXXX")
# Open to the daemons the tests run rootless (other users, or root of a
# user namespace), so that their reports are written too.
chmod 1777 "$LOGS"
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
make -j2 BUILD=build-asan STATIC=0 OPT=-O1 EXTRA_CFLAGS="$SAN" EXTRA_LDFLAGS="$SAN" \
	all unit-tests >/dev/null || exit 1
export LFS_BUILD="$ROOT/build-asan"
export ASAN_OPTIONS="log_path=$LOGS/asan:detect_leaks=1:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$LOGS/ubsan:print_stacktrace=1"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp"
BUILD=build-asan TESTS="${TESTS:-}" sh tests/run-tests.sh
status=$?
reports=$(find "$LOGS" -type f | wc -l)
if [ "$reports" -ne 0 ]; then
	echo "sanitizer reports ($reports):"
	for f in "$LOGS"/*; do
		echo "== $f"
		head -n 60 "$f"
	done
	status=1
else
	echo "sanitizers: no report"
fi
rm -rf "$LOGS"
exit $status
