#!/bin/sh
# Builds layerfs with ThreadSanitizer into build-tsan and runs the
# concurrency, stress, namespace and udba tests (several processes or
# threads on one mount, so the daemon's worker threads race for real) on
# that build.  Any data race or lock order report from a daemon fails the
# run.  TESTS= chooses modules.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/lfs-tsan.XXXXXX")
# Open to the daemons the tests run rootless (other users, or root of a
# user namespace), so that their reports are written too.
chmod 1777 "$LOGS"
SAN="-fsanitize=thread -fno-omit-frame-pointer"
make -j2 BUILD=build-tsan STATIC=0 OPT=-O1 EXTRA_CFLAGS="$SAN" EXTRA_LDFLAGS="$SAN" \
	build-tsan/layerfs >/dev/null || exit 1
export LFS_BUILD="$ROOT/build-tsan"
export TSAN_OPTIONS="log_path=$LOGS/tsan second_deadlock_stack=1 \
suppressions=$ROOT/tests/tsan.supp"
# TSan makes the daemon several times slower: shorter runs.
export LFS_CONCURRENCY_OPS=${LFS_CONCURRENCY_OPS:-400}
export LFS_STRESS_SECONDS=${LFS_STRESS_SECONDS:-20}
status=0
# A failing test fails the run too, not only a report (the status is
# run.py's, not that of the tail that shortens its output).
out=$(mktemp)
for m in ${TESTS:-concurrency stress namespace udba}; do
	python3 tests/integration/run.py --timeout 1200 --only "$m" >"$out"
	rc=$?
	grep -E '^(FAIL|ERROR)' "$out"
	grep -E '^#   ' "$out" # a failing module's own last lines
	tail -n 2 "$out"
	[ $rc -eq 0 ] || status=1
done
rm -f "$out"
reports=$(find "$LOGS" -type f | wc -l)
if [ "$reports" -ne 0 ]; then
	echo "tsan reports ($reports):"
	for f in "$LOGS"/*; do
		echo "== $f"
		head -n 80 "$f"
	done
	status=1
else
	echo "tsan: no report"
fi
rm -rf "$LOGS"
exit $status
