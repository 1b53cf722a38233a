#!/bin/sh
# Runs the integration tests with every layerfs daemon under valgrind
# memcheck.  Any memcheck error or definite leak in any daemon fails the
# run.  The scale test is left out (valgrind makes it minutes long) and
# the random tests run shorter; TESTS= chooses modules.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
command -v valgrind >/dev/null || {
	echo "check-valgrind: valgrind is not installed (apt-get install valgrind)"
	exit 1
}
# Valgrind does not know FUSE's io_uring commands: a daemon under it
# never gets its queues registered and its mount hangs.  With the fuse
# module's enable_uring on, turn it off for this run and put it back.
PARAM=/sys/module/fuse/parameters/enable_uring
if [ -w "$PARAM" ] && [ "$(cat "$PARAM")" = Y ]; then
	trap 'echo Y > "$PARAM"' EXIT INT TERM
	echo N >"$PARAM" || exit 1
fi
# Valgrind replaces malloc only in dynamically linked programs: a build
# of its own, with STATIC=0.
make -j2 BUILD=build-vg STATIC=0 all >/dev/null || exit 1
export LFS_BUILD="$ROOT/build-vg"
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/lfs-valgrind.XXXXXX")
# Open to the daemons the tests run rootless (other users, or root of a
# user namespace), so that their reports are written too.
chmod 1777 "$LOGS"
export LFS_DAEMON_WRAPPER="valgrind --quiet --log-file=$LOGS/vg.%p \
--leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
--track-fds=no --suppressions=$ROOT/tests/valgrind.supp"
export LFS_FSX_OPS=1500 LFS_CONCURRENCY_OPS=300
status=0
for m in ${TESTS:-read_view cow differential concurrency fsx crash}; do
	out=$(python3 tests/integration/run.py --timeout 1200 --only "$m")
	rc=$?
	# A failing test fails the run, not only a valgrind report.
	if [ $rc -ne 0 ]; then
		echo "$out" | grep -E '^(FAIL|#)' | tail -n 40
		status=1
	fi
	echo "$out" | tail -n 1
done
bad=0
for f in "$LOGS"/vg.*; do
	[ -s "$f" ] || continue
	if grep -qE "ERROR SUMMARY: [1-9]|definitely lost: [1-9]|Invalid (read|write)|uninitialised" "$f"; then
		bad=$((bad + 1))
		echo "== $f"
		head -n 80 "$f"
	fi
done
daemons=$(ls "$LOGS" | wc -l)
if [ "$bad" -ne 0 ]; then
	echo "valgrind: $bad of $daemons daemons reported errors"
	status=1
else
	echo "valgrind: $daemons daemons, no error, no definite leak"
fi
rm -rf "$LOGS"
exit $status
